"""Plans a run of several steps before any of them changes the server: each step is planned
against what the earlier ones would leave (their files, packages, services, answers and the
firewall's follow-ups), and what only the server can tell after an earlier step ran is marked.

Nothing here writes to the server or to the local record: the probes only read, and the
session's record is changed in a copy.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wizard.errors import WizardError
from wizard.plan import FileChange, Plan
from wizard.serverfiles import RemoteFile
from wizard.session import Session
from wizard.state import StepState


@dataclass(frozen=True)
class PlannedStep:
    """One step of a previewed run, planned as the server would be when its turn comes.

    `after` names the earlier steps of the run that change the server before this one: its
    files, packages and services are planned as they would leave them, but its commands'
    guards (`creates`, `unless`) were read on the server as it is now, and run again when
    the step is applied. `reason` and `cause` are set for a follow-up (the firewall planned
    again because a step opened a port).
    """

    plan: Plan
    after: tuple[str, ...] = ()
    reason: str = ""
    # For a follow-up: the step of the run that made it outdated.
    cause: str = ""

    @property
    def guards_read_now(self) -> bool:
        """True when a command's guard may answer otherwise once the earlier steps ran."""
        return bool(self.after) and bool(self.plan.commands)


@dataclass
class Projection:
    """What the earlier steps of the run would leave on the server."""

    files: dict[str, RemoteFile] = dataclasses.field(default_factory=dict)
    packages: set[str] = dataclasses.field(default_factory=set)
    services: set[str] = dataclasses.field(default_factory=set)
    changed_by: list[str] = dataclasses.field(default_factory=list)

    def assume(self, plan: Plan) -> Plan:
        """The plan as it would be after the earlier steps: their files in place, their
        packages installed, their services enabled."""
        files = tuple(
            dataclasses.replace(change, old=self.files[change.dest])
            if change.dest in self.files
            else change
            for change in plan.files
        )
        return dataclasses.replace(
            plan,
            files=files,
            missing_packages=tuple(p for p in plan.missing_packages if p not in self.packages),
            services_to_enable=tuple(s for s in plan.services_to_enable if s not in self.services),
        )

    def record(self, plan: Plan) -> None:
        """Take in what the plan would change."""
        for change in plan.files:
            if change.approved:
                self.files[change.dest] = left_by(change)
        self.packages.update(plan.packages)
        self.services.update(plan.step.enable)
        if plan.has_changes and plan.step.id not in self.changed_by:
            self.changed_by.append(plan.step.id)


def left_by(change: FileChange) -> RemoteFile:
    """The file as the step would leave it on the server."""
    return RemoteFile(
        path=change.dest,
        content=change.new,
        mode=change.spec.mode.zfill(4),
        owner=change.spec.owner,
        group=change.spec.group,
    )


def preview(
    session: Session, selection: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[PlannedStep]:
    """Plan every selected step in order, each against what the earlier ones would leave,
    with the follow-ups they would make (the firewall when a step opens a port)."""
    projected = dataclasses.replace(session)
    projection = Projection()
    planned: list[PlannedStep] = []
    for step_id, raw in selection:
        _plan_into(projected, projection, planned, step_id, raw)
        for other_id, outdated in projected.outdated_by(step_id).items():
            _plan_into(
                projected,
                projection,
                planned,
                other_id,
                outdated.answers,
                outdated.reason,
                step_id,
            )
    return planned


def _plan_into(
    projected: Session,
    projection: Projection,
    planned: list[PlannedStep],
    step_id: str,
    raw: Mapping[str, Any] | None,
    reason: str = "",
    cause: str = "",
) -> None:
    """Plan one step on the projected session, keep it, and take its changes in."""
    projected.facts = dataclasses.replace(
        projected.facts, packages=projected.facts.packages | frozenset(projection.packages)
    )
    plan = projection.assume(projected.plan(step_id, raw))
    if reason and not plan.has_changes:
        return
    planned.append(PlannedStep(plan, tuple(projection.changed_by), reason, cause))
    projection.record(plan)
    # sshd on its new port: the firewall after it opens that one, as the apply will find it.
    projected.facts = dataclasses.replace(projected.facts, ssh_port=projected.sshd_port_after(plan))
    projected.before_apply = {**projected.before_apply, step_id: projected.host}
    record = dataclasses.replace(
        projected.host.step(step_id), status=StepState.APPLIED, answers=plan.answers.public()
    )
    projected.host = dataclasses.replace(
        projected.host, steps={**projected.host.steps, step_id: record}
    )


def intent(plan: Plan) -> str:
    """A digest of what a plan would put on the server: its files (path, content, mode,
    owner, group), packages, services and rendered commands, whatever is there now."""
    digest = hashlib.sha256()
    for change in plan.files:
        if change.approved:
            spec = change.spec
            for part in (change.dest, spec.mode.zfill(4), spec.owner, spec.group):
                digest.update(part.encode() + b"\0")
            digest.update(hashlib.sha256(change.new).digest())
    for part in (*plan.packages, "|", *plan.step.enable, "|"):
        digest.update(part.encode() + b"\0")
    for command in plan.commands:
        digest.update(str(command.run).encode() + b"\0")
    return digest.hexdigest()


def refuse_unlike(shown: PlannedStep, fresh: Plan) -> None:
    """Stop when a step would now put something else on the server than the previewed plan
    showed (the earlier steps changed what it renders from)."""
    if intent(shown.plan) == intent(fresh):
        return
    before = {c.dest: c.new for c in shown.plan.files if c.approved}
    now = {c.dest: c.new for c in fresh.files if c.approved}
    paths = sorted(p for p in before.keys() | now.keys() if before.get(p) != now.get(p))
    what = ", ".join(paths) if paths else "its packages or commands"
    raise WizardError(
        f"step {fresh.step.id} would now write something else than the plan shown before the "
        f"run ({what}): it was not applied, nor anything after it",
        "the earlier steps changed what it is made from; plan it again to review "
        f"(vps-wizard plan ... --step {fresh.step.id}), then apply",
    )
