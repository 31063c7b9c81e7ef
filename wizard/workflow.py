"""A run of steps as the user goes through it, the same for every front end: each step planned,
reviewed, applied, the steps its apply made outdated (the firewall's follow-up) reviewed and
applied, then the checks of all of them; the run stops at a refusal, a failed apply or a
failed check.

The workflow is a generator. It yields what it needs from the front end, and the front end
sends the answer back: a `Review` wants a `Decision`, a `ConfirmSecondAdmin` a yes or no,
`Applying` and `Verifying` where to stream the apply's lines and the checks' results (or
None). The other events say what happened and want nothing. The CLI steps through it on the
terminal, the TUI from a worker thread with its screens: neither sequences the steps itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from wizard.apply import ApplyOutcome
from wizard.checks.base import CheckResult, CheckStatus
from wizard.errors import ApplyFailed
from wizard.plan import Plan
from wizard.preview import PlannedStep, refuse_unlike
from wizard.reveal import Secret

ApplyLines = Callable[[str], None]
CheckResults = Callable[[str, CheckResult], None]


class Decision(StrEnum):
    """The user's answer to a step's review."""

    APPLY = "apply"
    # Leave this step as it is and go on with the next (a follow-up stays outdated).
    SKIP = "skip"
    # Change nothing more.
    STOP = "stop"


class RunEnd(StrEnum):
    """How a run ended."""

    DONE = "done"
    STOPPED = "stopped"
    APPLY_FAILED = "apply-failed"
    CHECK_FAILED = "check-failed"


@dataclass(frozen=True)
class Review:
    """A plan with changes: apply it? Answered with a Decision, or with the plan as the user
    approved it (files skipped in the review), which means apply that."""

    plan: Plan
    # In a previewed run: what the preview showed for this step (the plan is held to it).
    shown: PlannedStep | None = None
    # For a follow-up: why it is planned again, and the step whose apply made it outdated.
    reason: str = ""
    cause: str = ""
    # Set when the plan adds a second admin, who becomes the wizard's login.
    second_admin: str = ""
    # "step 2 of 5" in a run of several steps.
    position: str = ""
    # In a run whose steps bring packages: every package the run still has to install,
    # installed in one apt transaction right before this step's apply when it is approved
    # (only the first approved step of the run carries it; see run_packages).
    installs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConfirmSecondAdmin:
    """The explicit yes before a second admin is added. Answered with a bool."""

    plan: Plan
    warning: str


@dataclass(frozen=True)
class Applying:
    """The apply starts. Answered with where its lines go (or None)."""

    plan: Plan


@dataclass(frozen=True)
class Applied:
    """The apply ended with the change in place."""

    plan: Plan
    outcome: ApplyOutcome


@dataclass(frozen=True)
class Revealed:
    """What the apply made that the user must keep (wizard.reveal), shown this once. Answered
    with None once shown."""

    plan: Plan
    secrets: tuple[Secret, ...]


@dataclass(frozen=True)
class ApplyRolledBack:
    """The apply failed and the server was rolled back; the run ends here."""

    plan: Plan
    failure: ApplyFailed


@dataclass(frozen=True)
class Adopted:
    """The server already matched the plan: the step was recorded as applied."""

    plan: Plan


@dataclass(frozen=True)
class Verifying:
    """The checks start. Answered with where each result goes as it arrives (or None)."""

    step_ids: tuple[str, ...]
    heading: str


@dataclass(frozen=True)
class Verified:
    """The checks' results, by step."""

    results: Mapping[str, list[CheckResult]]

    @property
    def failed(self) -> list[str]:
        """The steps with a failed check."""
        return [step for step, results in self.results.items() if any_failed(results)]


@dataclass(frozen=True)
class StepDone:
    """One step of the run is over: what was done, for a report."""

    step_id: str
    summary: str
    run_id: str = ""
    followups: tuple[str, ...] = ()
    results: tuple[CheckResult, ...] = ()
    seconds: float = 0.0
    second_admin: str = ""


@dataclass(frozen=True)
class Stopped:
    """The run stopped before its end; nothing after this point was changed."""

    why: str


Event = (
    Review
    | ConfirmSecondAdmin
    | Applying
    | Applied
    | Revealed
    | ApplyRolledBack
    | Adopted
    | Verifying
    | Verified
    | StepDone
    | Stopped
)
Workflow = Generator[Event, Any, RunEnd]


def any_failed(results: Sequence[CheckResult]) -> bool:
    """True when a check failed (a warning does not stop a run)."""
    return any(result.status is CheckStatus.FAIL for result in results)


class RunSession(Protocol):
    """What a run needs of a session (wizard.session.Session; the TUI tests' fake)."""

    def plan(self, step_id: str, raw: Mapping[str, Any] | None = None) -> Plan: ...

    def second_admin(self, plan: Plan) -> str: ...

    def adopt(self, plan: Plan) -> None: ...

    def apply(self, plan: Plan, on_event: ApplyLines = ...) -> ApplyOutcome: ...

    def install(self, packages: Sequence[str], on_event: ApplyLines = ...) -> ApplyOutcome: ...

    def followups(self, step_id: str) -> list[Plan]: ...

    def reveal_once(self, plan: Plan) -> tuple[Secret, ...]: ...

    def verify(
        self, step_ids: Iterable[str], on_result: CheckResults | None = None
    ) -> dict[str, list[CheckResult]]: ...


def run_steps(
    session: RunSession,
    selection: Sequence[tuple[str, Mapping[str, Any]]],
    previewed: Sequence[PlannedStep] = (),
    current: bool = False,
) -> Workflow:
    """Go through the selected steps in order, each with its raw answers.

    With `previewed` (the run's preview, shown to the user before), each step and follow-up
    is held to what it showed: one that would now write something else stops the run
    (WizardError) before it is reviewed. `current` says the preview was made just before
    the run from this session, with nothing done in between (the CLI's `apply`): the steps
    no earlier step of the run changes are then taken as previewed, not planned again.
    Errors the engine raises (refused answers, a missing required step) end the workflow as
    exceptions.
    """
    # What the preview showed, by step and the step whose apply made it a follow-up.
    shown = {(item.plan.step.id, item.cause): item for item in previewed}
    order = {step_id: number for number, (step_id, _) in enumerate(selection, start=1)}
    # Installed for the whole run (by the first approved step's review): no later apply of
    # the run installs them again.
    installed: set[str] = set()
    for number, (step_id, raw) in enumerate(selection, start=1):
        position = f"step {number} of {len(selection)}" if len(selection) > 1 else ""
        started = time.monotonic()
        item = shown.get((step_id, ""))
        if previewed and item is None:
            continue  # the preview left it out (it waits for a step not in the run)
        if current and item is not None and not item.after:
            # Made just now from this session, and nothing before it in the run changed the
            # server: the preview's plan is this step's plan (one round trip less; the apply
            # still refuses a file changed since it was read).
            plan = item.plan
        else:
            plan = session.plan(step_id, raw)
            if item is not None:
                refuse_unlike(item, plan)
        if not plan.has_changes:
            session.adopt(plan)
            yield Adopted(plan)
            heading = f"{plan.step.title}: nothing to change"
            applied: list[str] = [step_id]
            run_id, warning = "", ""
        else:
            plan = _without(plan, installed)
            warning = session.second_admin(plan)
            installs = () if installed or runs_apt(plan) else run_packages(previewed, order, number)
            review = Review(plan, item, second_admin=warning, position=position, installs=installs)
            plan, decision = _decided(plan, (yield review))
            if decision is Decision.SKIP:
                continue
            if decision is not Decision.APPLY:
                yield Stopped("you stopped it")
                return RunEnd.STOPPED
            if warning and not (yield ConfirmSecondAdmin(plan, warning)):
                yield Stopped("the second admin was not confirmed")
                return RunEnd.STOPPED
            replan = _planned_again(session, step_id, raw, item) if installs else None
            outcome = yield from _apply(session, plan, installs, replan)
            if outcome is None:
                return RunEnd.APPLY_FAILED
            installed.update(installs)
            run_id = outcome.run_id
            heading = f"{plan.step.title}: applied, run {run_id}"
            applied = [step_id]
            for followup in session.followups(step_id):
                followup = _without(followup, installed)
                followup_id = followup.step.id
                followup_shown = shown.get((followup_id, step_id))
                if followup_shown is not None:
                    refuse_unlike(followup_shown, followup)
                reason = f"{step_id} changed what {followup_id} must do"
                review = Review(followup, followup_shown, reason=reason, cause=step_id)
                followup, decision = _decided(followup, (yield review))
                if decision is not Decision.APPLY:
                    continue  # it stays outdated: the overview sends the user there next
                if (yield from _apply(session, followup)) is None:
                    return RunEnd.APPLY_FAILED
                applied.append(followup_id)
        sink = yield Verifying(tuple(applied), heading)
        verified = Verified(session.verify(applied, sink))
        yield verified
        results = tuple(r for step_results in verified.results.values() for r in step_results)
        yield StepDone(
            step_id,
            plan.summary(),
            run_id,
            tuple(applied[1:]),
            results,
            time.monotonic() - started,
            warning,
        )
        if verified.failed:
            yield Stopped(f"a check of {', '.join(verified.failed)} failed")
            return RunEnd.CHECK_FAILED
    return RunEnd.DONE


def _decided(plan: Plan, answer: Decision | Plan) -> tuple[Plan, Decision]:
    """The plan to apply and the decision, from a review's answer: a Decision, or the plan
    as the user approved it (some files skipped), which means apply that."""
    if isinstance(answer, Plan):
        if answer.step.id != plan.step.id:
            raise ValueError(f"the review of {plan.step.id} was answered for {answer.step.id}")
        return answer, Decision.APPLY
    return plan, Decision(answer)


def run_packages(
    previewed: Sequence[PlannedStep], order: Mapping[str, int], number: int
) -> tuple[str, ...]:
    """The packages the previewed run still installs from its `number`th step on, in series
    order, each once: what one apt transaction installs before that step, when they come
    from two steps or more (one step's own apply installs its own as well)."""
    packages: dict[str, None] = {}
    bringing: set[str] = set()
    for item in previewed:
        # A follow-up is applied with the step whose apply made it outdated.
        if order.get(item.cause or item.plan.step.id, 0) < number:
            continue
        for package in item.plan.missing_packages:
            packages[package] = None
            bringing.add(item.plan.step.id)
    return tuple(packages) if len(bringing) > 1 else ()


def runs_apt(plan: Plan) -> bool:
    """True when the plan runs apt itself (base's apt-get update once it added the security
    suite, its full-upgrade): such a step is applied with its own packages before the run's
    install, which then resolves against the lists and the system it left."""
    return any(command.will_run and "apt-get" in command.run for command in plan.commands)


def _without(plan: Plan, installed: set[str]) -> Plan:
    """The plan with the packages the run installed already left out of it."""
    if not installed or not set(plan.missing_packages) & installed:
        return plan
    missing = tuple(p for p in plan.missing_packages if p not in installed)
    return dataclasses.replace(plan, missing_packages=missing)


def _planned_again(
    session: RunSession, step_id: str, raw: Mapping[str, Any], shown: PlannedStep | None
) -> Callable[[Plan], Plan]:
    """How a step is planned again after the run's packages were installed under it (their
    own files, 20auto-upgrades say, are on the server now): held to what the preview showed,
    with the files the user left out of the approved plan left out again."""

    def again(approved: Plan) -> Plan:
        fresh = session.plan(step_id, raw)
        if shown is not None:
            refuse_unlike(shown, fresh)
        for change in approved.files:
            if not change.approved:
                fresh = fresh.with_approval(change.dest, False)
        return fresh

    return again


def _apply(
    session: RunSession,
    plan: Plan,
    installs: tuple[str, ...] = (),
    replan: Callable[[Plan], Plan] | None = None,
) -> Generator[Event, Any, ApplyOutcome | None]:
    """Apply one plan, its lines streamed where the front end says; None when rolled back.
    With `installs`, the whole run's packages are installed first, in the same stream; the
    plan is then made again (`replan`), since the packages may have put files where it
    writes (the apply refuses a file changed since its plan)."""
    lines: ApplyLines | None = yield Applying(plan)
    try:
        if installs:
            session.install(installs, lines or _nowhere)
            if replan is not None:
                plan = replan(plan)
            plan = _without(plan, set(installs))
        outcome = session.apply(plan, lines or _nowhere)
    except ApplyFailed as failure:
        yield ApplyRolledBack(plan, failure)
        return None
    yield Applied(plan, outcome)
    secrets = session.reveal_once(plan)
    if secrets:
        yield Revealed(plan, secrets)
    return outcome


def _nowhere(_line: str) -> None:
    """The front end did not ask for the apply's lines."""
