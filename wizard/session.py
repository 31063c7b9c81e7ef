"""The engine's one entry point: connect, plan, apply, verify, resume. CLI, TUI and tests drive it.

A Session holds one SSH session, the server's facts and the host's record. Every method is
blocking and may be called from a worker thread; none of them prints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wizard.answers import Answers, check_refusals, validate_answers
from wizard.apply import (
    INSTALL_STEP,
    ApplyOutcome,
    apply_plan,
    explain_failure,
    install_packages,
)
from wizard.catalog import Catalog
from wizard.checks import load_checks
from wizard.checks.base import CheckContext, CheckResult, CheckStatus, run_checks
from wizard.checks.command import render_check_params
from wizard.checks.paramtypes import param_failure
from wizard.choices import offered_catalog
from wizard.confirm import confirm_from_new_session
from wizard.connector import Connector
from wizard.earlychecks import EarlyChecks
from wizard.endpoint import ConnectOptions, Stats, Target
from wizard.errors import ConnectionFailed, WizardError
from wizard.facts import SERVER_STATE, STATE_DIR, Facts, facts_script, parse_facts
from wizard.followups import Outdated, outdated_by
from wizard.journal import new_run_id
from wizard.localkeys import local_public_key
from wizard.manifest import file_digests, manifest_script
from wizard.plan import Plan, guessed_probe, make_plan
from wizard.publicscript import PublicScript
from wizard.remote import Remote, _resolve
from wizard.resume import (
    ResetSuspected,
    ServerTraces,
    drifted,
    parse_recovery,
    parse_traces,
    recovery_script,
    traces_script,
    unconfirmed,
    verified_only_when_backed,
)
from wizard.reveal import Secret, parse_revealed, reveal_script
from wizard.roles import second_admin
from wizard.runlock import ApplyBusy
from wizard.shell import heredoc, sh
from wizard.state import (
    APPLIED,
    CLAIMS,
    HostRecord,
    StateStore,
    StepRecord,
    StepState,
    merge_server_copy,
)
from wizard.stepcontext import default_answers, template_context
from wizard.steps import Role, Step
from wizard.verdict import verdict

# Packages and services whose presence other steps' templates ask about.
WATCHED_PACKAGES = ("postfix", "nginx", "apache2", "bind9", "dovecot-core", "mariadb-server")
# How long an apply waits for another one under way on the server, and how often it looks.
BUSY_WAIT_SECONDS = 600
BUSY_POLL_SECONDS = 2


@dataclass(frozen=True)
class StepStatus:
    """A step and where the host is with it, for the overview."""

    step: Step
    record: StepRecord
    blocked_by: tuple[str, ...] = ()


@dataclass
class Session:
    """A connected wizard session on one host."""

    catalog: Catalog
    store: StateStore
    options: ConnectOptions
    remote: Connector
    facts: Facts
    host: HostRecord
    notices: list[str] = field(default_factory=list)
    # Set on connect when the server does not back the record (see ResetSuspected).
    reset: ResetSuspected | None = None
    # The record of the server last reached at this address when its host key changed.
    previous: HostRecord | None = None
    traces: ServerTraces | None = None
    # The host's record before each step's last apply in this session: a step's follow-ups
    # compare the defaults its old and new answers gave (wizard.followups.moved_defaults).
    before_apply: dict[str, HostRecord] = field(default_factory=dict)
    # Checks begun with the kept facts while the facts script ran (Session.open's
    # first_verify); verify takes the results that still hold once the facts are in.
    early: EarlyChecks | None = None

    @property
    def stats(self) -> Stats:
        """Round trips, bytes and time per phase."""
        return self.remote.stats

    # ----------------------------------------------------------------- connect and resume
    @classmethod
    def open(
        cls,
        catalog: Catalog,
        store: StateStore,
        options: ConnectOptions,
        stats: Stats | None = None,
        first_plan: tuple[str, Mapping[str, Any]] | None = None,
        first_verify: Sequence[str] | None = None,
    ) -> Session:
        """Connect (as the user given, else the admin this machine recorded), gather facts,
        resume; say when the server does not back the record (`reset`).

        `first_plan`: the step and raw answers the command will plan first, when it knows
        them: its probe is guessed now and read behind the facts (see _read_ahead).
        `first_verify`: the steps the command will verify first (empty: those the record
        shows applied); their checks begin now, beside the facts (see _begin_checks)."""
        address, port, _, _, _ = _resolve(options.target)
        given_port = port if options.target.port or port != 22 else None
        known = store.reached_at(address, given_port)
        target = options.target
        if target.port is None and known is not None and known.port:
            target = dataclasses.replace(target, port=known.port)
        # The user given is the one used; the record's admin only fills in a missing one.
        admin = known.admin_user if known is not None else ""
        defaulted = target.user is None and bool(admin)
        if defaulted:
            target = dataclasses.replace(target, user=admin)
        options = dataclasses.replace(options, target=target)
        remote = _connect(options, stats, defaulted, known)
        record, previous = store.identify(
            remote.host_fingerprint, address, remote.target.port or 22
        )
        notices: list[str] = list(options.notices)
        if defaulted and remote.user != admin:
            notices.append(
                f"{target.user} (the admin this machine recorded) was refused: connected as "
                f"{remote.user}"
            )
        session = cls(catalog, store, options, remote, _empty_facts(), record, notices)
        session.previous = previous
        if first_plan is not None:
            session._read_ahead(remote, *first_plan)
        if first_verify is not None:
            session._begin_checks(first_verify)
        session.refresh()
        return session

    def _kept_facts(self) -> Facts | None:
        """The facts this machine kept from its last connect to this server (by its host key)
        with this facts script, or None."""
        kept = self.store.last_facts(self.host.key, _digest(self._facts_script()))
        return parse_facts(kept) if kept else None

    def _as_if(self, facts: Facts) -> Session:
        """This session as it would be with these facts (a guess made before they come)."""
        return dataclasses.replace(
            self, facts=facts, catalog=offered_catalog(self.catalog, facts.as_template_context())
        )

    def _begin_checks(self, step_ids: Sequence[str]) -> None:
        """Begin the steps' checks with the kept facts, while the facts script runs: a verify
        then waits for its slowest check, not for the facts and then that check.

        Only with kept facts read since this machine last changed the server: a check's
        parameters (the sshd port, the addresses) come from them, and facts from before an
        apply would make every check run twice. verify takes a result only when its check
        would run now just as it ran (wizard.earlychecks); the others run again in turn."""
        facts = self._kept_facts()
        if facts is None or self.store.changed_since_facts(self.host.key):
            return
        guess = self._as_if(facts)
        specs, owners = guess._check_specs_of(step_ids or guess.applied_steps())
        runnable = [i for i, spec in enumerate(specs) if param_failure(*spec) is None]
        self.early = EarlyChecks(
            guess.check_context(),
            [specs[i] for i in runnable],
            [owners[i] for i in runnable],
            self.stats,
        )

    def _read_ahead(self, remote: Remote, step_id: str, raw: Mapping[str, Any]) -> None:
        """Guess the probe of the step's plan before the facts are in, and send it behind
        the facts script (Remote.read_ahead): the plan then needs no round trip of its own
        when the guess holds (the script is the very same text).

        The guess renders the step with the record and the facts this machine kept from the
        last connect to this server (none on the first: most steps' probes do not depend on
        them). A wrong guess (the facts changed a path, a condition or a command) costs the
        server that read and nothing else: the plan sends its own probe. A guess that cannot
        be made (answers valid only with the facts) is not made."""
        guess = self._as_if(self._kept_facts() or self.facts)
        step = guess.catalog.get(step_id)
        try:
            answers = guess.validate(step, raw)
            probe = guessed_probe(step, guess.context(step, answers.values))
        except WizardError:
            return
        if probe is not None:
            remote.read_ahead([probe])

    def _facts_script(self) -> PublicScript:
        """The facts script for this catalog: every step's packages and the watched ones."""
        packages = {p for s in self.catalog.steps for p in s.any_packages} | set(WATCHED_PACKAGES)
        return facts_script(packages)

    def refresh(self) -> None:
        """Gather facts (one round trip), merge the server's record, finish interrupted runs."""
        script = self._facts_script()
        with self.stats.phase("facts"):
            output = self.remote.run(script).stdout
            self.facts = parse_facts(output)
        self.store.save_facts(self.host.key, _digest(script), output)
        # Choices that depend on the server (PHP versions its apt offers) from now on.
        self.catalog = offered_catalog(self.catalog, self.facts.as_template_context())
        record = merge_server_copy(self.host, self.facts.server_state)
        record = dataclasses.replace(
            record,
            port=self.remote.target.port or 22,
            login_user=self.remote.user,
            seen=time.time(),
        )
        self.host = record
        if self.facts.unfinished_runs:
            self._recover(self.facts.unfinished_runs)
        self._mark_drift()
        self._check_server_backs_record()
        if self.reset is None:
            # While the server does not back it, the stored record stays as it was: the
            # user chooses to start over (it is archived) or to verify step by step.
            self.store.save_host(self.host)

    def _check_server_backs_record(self) -> None:
        """Nothing the server does not back is shown as applied or verified.

        A record whose server has no trace of the wizard (no copy of the state, no journal,
        no manifest), or whose server now shows another host key, is a reinstalled or reset
        server: every step it claims becomes "unconfirmed". A step stays "verified" only
        with the time of the check that verified it and its files in the server's manifest.
        """
        base = self.previous or self.host
        claimed = tuple(sid for sid, r in base.steps.items() if r.status in CLAIMS)
        if not claimed and self.previous is None:
            return
        # Read with the facts, in their round trip; read again after a run was recovered
        # (undoing one puts the manifest back as it was before it).
        self.traces = self._read_traces() if self.facts.unfinished_runs else self.facts.traces
        reason = ""
        if self.previous is not None:
            reason = (
                f"it shows a new host key ({self.remote.host_fingerprint}); this machine "
                f"recorded {self.previous.key} at {self.host.address} port {self.host.port}"
            )
        elif not self.traces.any:
            reason = (
                f"it has no trace of vps-wizard (no {SERVER_STATE}, no journal of runs, no "
                f"manifest of files in {STATE_DIR})"
            )
        if reason and claimed:
            self.reset = ResetSuspected(reason, claimed)
            self.host = dataclasses.replace(
                self.host, admin_user="", steps=unconfirmed(base.steps, claimed)
            )
            return
        self.host = dataclasses.replace(
            self.host, steps=verified_only_when_backed(self.host.steps, self.traces.manifest)
        )

    def _read_traces(self) -> ServerTraces:
        """One round trip: whether the server copy and runs exist, the manifest's paths."""
        with self.stats.phase("resume"):
            return parse_traces(self.remote.run(traces_script()).stdout)

    def start_over(self) -> str:
        """Archive this machine's record of the server (and of the one it replaced), and
        begin with an empty one; the server's own copy of the state, if any, is moved aside
        (never deleted). Returns the archived record's key."""
        archived = self.store.archive(self.host.key)
        if self.previous is not None:
            archived = self.store.archive(self.previous.key) or archived
        self.remote.run(
            sh(
                "[ -e {state} ] && mv -f {state} {aside}\ntrue",
                state=SERVER_STATE,
                aside=f"{SERVER_STATE}.archived-{int(time.time())}",
            )
        )
        self.host = HostRecord(
            self.host.key,
            self.host.address,
            self.host.port,
            login_user=self.remote.user,
            seen=time.time(),
        )
        self.previous = None
        self.reset = None
        self.notices.append(
            "started over: this machine's old record of the server is archived, not deleted "
            f"({archived or 'nothing was stored yet'})"
        )
        self.refresh()
        return archived

    def _recover(self, run_ids: Iterable[str]) -> None:
        """Finish or undo runs a dropped connection or a killed wizard left behind.

        Only runs whose owner is gone: a run another wizard is staging or applying, or one
        waiting for its guard's confirmation while its timer runs, is left to end by itself.
        """
        if self.early is not None:
            # Checks begun early must not run while a recovery changes the server, nor stand
            # for checks of what it leaves.
            self.early.drop()
            self.early = None
        with self.stats.phase("resume"):
            output = self.remote.run_script(recovery_script(run_ids)).stdout
        for recovered in parse_recovery(output):
            self.notices.append(recovered.notice)
            if recovered.run_id:
                self.store.record_run(
                    self.host.key,
                    recovered.run_id,
                    recovered.step_id,
                    recovered.status,
                    "recovered on connect",
                )

    def _mark_drift(self) -> None:
        self.host = dataclasses.replace(
            self.host, steps=drifted(self.host.steps, self.facts.drifted_files)
        )

    # ----------------------------------------------------------------- overview
    def overview(self) -> list[StepStatus]:
        """Every step of the catalog with its status and what it still waits for."""
        statuses = []
        for step in self.catalog.steps:
            if self.facts.os_family and self.facts.os_family not in step.applies_to:
                continue
            missing = tuple(r for r in step.requires if self.host.step(r).status not in APPLIED)
            statuses.append(StepStatus(step, self.host.step(step.id), missing))
        return statuses

    def next_step(self) -> Step | None:
        """The first step not yet verified, where a user continues."""
        for status in self.overview():
            if status.record.status != StepState.VERIFIED:
                return status.step
        return None

    # ----------------------------------------------------------------- answers
    def context(self, step: Step, answers: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What templates, defaults and check parameters see (wizard.stepcontext)."""
        local_key = local_public_key(self.options.credentials.key_filename)
        return template_context(self.catalog, self.host, self.facts, local_key, step, answers)

    def default_answers(self, step: Step) -> dict[str, Any]:
        """Raw answers to start the form with: the last ones given, else the step's defaults."""
        return default_answers(step, self.host.step(step.id).answers, self.context(step))

    def validate(self, step: Step, raw: Mapping[str, Any]) -> Answers:
        """Type-check the answers, then the rules that need the server's facts."""
        merged = {**self.default_answers(step), **raw}
        answers = validate_answers(step, merged)
        check_refusals(step, self.context(step, answers.values))
        return answers

    # ----------------------------------------------------------------- plan and apply
    def plan(self, step_id: str, raw: Mapping[str, Any] | None = None) -> Plan:
        """Validate the answers and compute the step's plan (one round trip)."""
        step = self.catalog.get(step_id)
        missing = [r for r in step.requires if self.host.step(r).status not in APPLIED]
        if missing:
            raise WizardError(
                f"step {step_id} needs {', '.join(missing)} applied first",
                f"apply {missing[0]} first (vps-wizard apply ... --step {missing[0]})",
            )
        answers = self.validate(step, raw or {})
        with self.stats.phase("review"):
            return make_plan(self.remote, step, answers, self.context(step, answers.values))

    def second_admin(self, plan: Plan) -> str:
        """The warning when the plan adds a second admin the wizard would log in as."""
        return second_admin(self.host, plan)

    def apply(self, plan: Plan, on_event: Callable[[str], None] = lambda _: None) -> ApplyOutcome:
        """Apply a reviewed plan; guarded steps are confirmed from a fresh session."""
        with self.stats.phase("apply"):
            outcome = self._apply_when_free(plan, on_event)
        run_id = outcome.run_id
        if outcome.status == "awaiting-confirm":
            with self.stats.phase("guard"):
                outcome = self._confirm(plan, outcome, on_event)
        self.store.record_run(self.host.key, run_id, plan.step.id, outcome.status, outcome.failure)
        if not outcome.ok:
            self._save_step(plan.step.id, status=StepState.FAILED, message=outcome.failure)
            raise explain_failure(outcome)
        # The step's packages are installed now: later steps of the run render from that
        # (fail2ban's postfix-auth jail once the mail step brought Postfix), as `plan` showed.
        self.facts = dataclasses.replace(
            self.facts, packages=self.facts.packages | frozenset(plan.packages)
        )
        files = file_digests(c for c in plan.files if c.approved)
        # The apply listed every approved file in the server's manifest itself.
        known = self.traces.manifest if self.traces else frozenset()
        self.traces = ServerTraces(True, True, known | set(files))
        self.before_apply[plan.step.id] = self.host
        self._save_step(
            plan.step.id,
            status=StepState.APPLIED,
            answers=plan.answers.public(),
            files=files,
            message="",
        )
        admin = plan.step.role_answer(Role.ADMIN_USER, plan.answers.values)
        if admin:
            self.host = dataclasses.replace(self.host, admin_user=str(admin))
            self.store.save_host(self.host)
        # The server's copy is written by the verify that follows; if none does, the next
        # run finds the files in place and adopts the step again.
        return outcome

    def install(
        self, packages: Sequence[str], on_event: Callable[[str], None] = lambda _: None
    ) -> ApplyOutcome:
        """Install the packages of a whole run in one apt transaction before its first step
        (wizard.apply.install_packages): a run of its own, its daemons held back until their
        step's files are in place. The steps' own applies then install nothing."""
        names = tuple(packages)
        with self.stats.phase("apply"):
            outcome = self._when_free(
                lambda: install_packages(self.remote, names, new_run_id(), on_event), on_event
            )
        self.store.record_run(
            self.host.key, outcome.run_id, INSTALL_STEP, outcome.status, outcome.failure
        )
        if not outcome.ok:
            raise explain_failure(outcome)
        # The facts' packages are left as they are: a package counts for the templates once
        # the step that brings it is applied (`apply` adds it), as the preview planned the
        # run (fail2ban renders no postfix-auth jail before the mail step's apply).
        return outcome

    def _apply_when_free(self, plan: Plan, on_event: Callable[[str], None]) -> ApplyOutcome:
        """Apply once no other run holds the server (see _when_free)."""
        return self._when_free(
            lambda: apply_plan(
                self.remote, plan, new_run_id(), self.options.guard_seconds, on_event
            ),
            on_event,
        )

    def _when_free(
        self, run: Callable[[], ApplyOutcome], on_event: Callable[[str], None]
    ) -> ApplyOutcome:
        """Start a run once no other run holds the server: one under way is waited for (it
        ends by itself); one waiting for its guard's confirmation refuses at once."""
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        told = ""
        while True:
            try:
                return run()
            except ApplyBusy as busy:
                if busy.holder is None or not busy.holder.ends_by_itself:
                    raise
                if time.monotonic() > deadline:
                    raise
                if busy.message != told:
                    on_event(f"waiting: {busy.message}")
                    told = busy.message
                time.sleep(BUSY_POLL_SECONDS)

    def followups(self, step_id: str) -> list[Plan]:
        """Applied steps that must be applied again because this one changed their input.

        A step that opens ports makes the firewall's ruleset outdated; a step that installs a
        package another step depends on (Postfix for fail2ban's postfix-auth jail) makes that
        one outdated. Each is planned with its recorded answers; those with changes are marked
        outdated, so the overview sends the user there next.
        """
        # The plans read the installed packages from the facts, which `apply` brought up to
        # date: no facts gathered again (one gather a run, at connect).
        reasons = self.outdated_by(step_id)
        plans = []
        for other_id, outdated in reasons.items():
            reason = outdated.reason
            plan = self.plan(other_id, outdated.answers)
            if plan.has_changes:
                self._save_step(
                    other_id,
                    status=StepState.OUTDATED,
                    message=f"{reason}: apply {other_id} again",
                )
                plans.append(plan)
        return plans

    def outdated_by(self, step_id: str) -> dict[str, Outdated]:
        """The applied steps whose input this step changes (wizard.followups)."""
        local_key = local_public_key(self.options.credentials.key_filename)

        def context(host: HostRecord, step: Step) -> dict[str, Any]:
            return template_context(self.catalog, host, self.facts, local_key, step)

        before = self.before_apply.get(step_id)
        return outdated_by(self.catalog, self.host, self.facts, step_id, before, context)

    def reveal_once(self, plan: Plan) -> tuple[Secret, ...]:
        """What the step made that the user must keep and has not been shown yet
        (wizard.reveal): read and marked as shown on the server in one command."""
        if not plan.step.reveals:
            return ()
        with self.stats.phase("apply"):
            result = self.remote.run(reveal_script(plan.step.reveals), timeout=30)
        return parse_revealed(plan.step.reveals, result.stdout)

    def adopt(self, plan: Plan) -> None:
        """The server already matches the plan: record the step as applied with these answers.

        This is how a run that a dropped connection cut off, but that finished on the server,
        is taken up again, and how a server set up by hand joins the wizard's record.
        """
        if plan.has_changes:
            raise WizardError(f"step {plan.step.id} still has changes to apply")
        record = self.host.step(plan.step.id)
        files = file_digests(plan.files)
        # New answers are recorded even when the server needs nothing for them: a threshold
        # that only the checks read (maintenance's disk use) must reach the next verify.
        answers = plan.answers.public()
        if record.status in APPLIED and record.files == files and record.answers == answers:
            return
        status = record.status if record.status in APPLIED else StepState.APPLIED
        self._record_manifest(files)
        self._save_step(plan.step.id, status=status, answers=answers, files=files)

    def _record_manifest(self, paths: Iterable[str]) -> None:
        """Every file a step's record names is in the server's manifest, so drift is seen
        and "verified" is backed (the apply lists only the files it changed)."""
        paths = list(paths)
        if not paths:
            return
        with self.stats.phase("state"):
            self.remote.run(manifest_script(paths))
        known = self.traces.manifest if self.traces else frozenset()
        self.traces = ServerTraces(True, True, known | set(paths))

    def sshd_port_after(self, plan: Plan) -> int:
        """The port sshd serves once the plan is applied: the answer that fills sshd_port."""
        answer = plan.step.role_answer(Role.SSHD_PORT, plan.answers.values)
        if isinstance(answer, int):
            return answer
        return self.facts.ssh_port

    def _confirm(
        self, plan: Plan, outcome: ApplyOutcome, on_event: Callable[[str], None]
    ) -> ApplyOutcome:
        """Open a brand-new session as the admin on sshd's port after the change; only it may
        disarm the revert (wizard.confirm). Confirmed, the wizard goes on with that session."""
        new_sshd_port = self.sshd_port_after(plan)
        # sshd moved: reach it on its new port (a NAT in front would need the user's help).
        port = new_sshd_port if new_sshd_port != self.facts.ssh_port else self.remote.target.port
        confirmation = confirm_from_new_session(
            self.remote,
            self.options,
            self.stats,
            self.host.admin_user or self.remote.user,
            port or 22,
            outcome,
            on_event,
        )
        if confirmation.session is not None:
            self.remote.close()
            self.remote = confirmation.session
            self.host = dataclasses.replace(
                self.host, port=confirmation.port, login_user=confirmation.user
            )
            self.facts = dataclasses.replace(self.facts, ssh_port=new_sshd_port)
        return confirmation.outcome

    # ----------------------------------------------------------------- verify
    def check_context(self) -> CheckContext:
        """What checks get: this session, the facts, how to open new sessions."""
        answers = {sid: dict(rec.answers) for sid, rec in self.host.steps.items()}
        return CheckContext(
            remote=self.remote,
            facts=self.facts,
            address=self.remote.target.host,
            port=self.remote.target.port or 22,
            credentials=dataclasses.replace(self.options.credentials, password=None),
            known_hosts=self.options.known_hosts,
            answers=answers,
        )

    def check_specs(self, step: Step) -> list[tuple[str, dict[str, Any]]]:
        """The step's checks with their parameters evaluated against its answers (a shell
        parameter, the command check's run, rendered as shell with its values quoted)."""
        record = self.host.step(step.id)
        context = self.context(step, record.answers)
        return [(spec.id, render_check_params(step, spec, context)) for spec in step.checks]

    def verify(
        self, step_ids: Iterable[str], on_result: Callable[[str, CheckResult], None] | None = None
    ) -> dict[str, list[CheckResult]]:
        """Run the checks of the given steps, all concurrently; record verified or failed."""
        step_ids = list(step_ids)
        specs, owners = self._check_specs_of(step_ids)
        checked = time.time()
        results = self._run_checks(specs, owners, on_result)
        by_step: dict[str, list[CheckResult]] = {}
        for owner, result in zip(owners, results, strict=True):
            by_step.setdefault(owner, []).append(result)
        for step_id in dict.fromkeys(step_ids):
            step_results = by_step.setdefault(step_id, [])
            failed = [r for r in step_results if r.status is CheckStatus.FAIL]
            record = self.host.step(step_id)
            if record.status == StepState.PENDING and not failed:
                continue
            self._save_step(step_id, **self._verdict(record, failed, checked))
        self.reset = None  # verified step by step: the record now says what the checks found
        self._push_server_copy()
        return by_step

    def _check_specs_of(
        self, step_ids: Iterable[str]
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """The checks of these steps with their parameters, and the step each belongs to."""
        specs: list[tuple[str, dict[str, Any]]] = []
        owners: list[str] = []
        for step_id in step_ids:
            for spec in self.check_specs(self.catalog.get(step_id)):
                specs.append(spec)
                owners.append(step_id)
        return specs, owners

    def applied_steps(self) -> list[str]:
        """The steps the record shows applied (in any state but pending): a verify's default."""
        return [s.step.id for s in self.overview() if s.record.status != StepState.PENDING]

    def _run_checks(
        self,
        specs: list[tuple[str, dict[str, Any]]],
        owners: list[str],
        on_result: Callable[[str, CheckResult], None] | None,
    ) -> list[CheckResult]:
        """Run the checks concurrently, each reported as it arrives; a check whose rendered
        parameters have the wrong type fails at once, naming the parameter, without running;
        a check begun early that ran just as it would now is not run again (_begin_checks).
        Only the areas of these checks are imported (the TUI starts without any)."""
        refused = {i: param_failure(cid, params) for i, (cid, params) in enumerate(specs)}
        results: dict[int, CheckResult] = {}
        for index, failure in refused.items():
            if failure is not None:
                results[index] = failure
                if on_result:
                    on_result(owners[index], failure)
        results.update(self._take_early(specs, owners, refused, on_result))
        runnable = [i for i in range(len(specs)) if i not in results]
        load_checks(specs[i][0] for i in runnable)

        def arrived(position: int, result: CheckResult) -> None:
            if on_result:
                on_result(owners[runnable[position]], result)

        if runnable:
            with self.stats.phase("verify"):
                ran = run_checks(
                    self.check_context(), [specs[i] for i in runnable], on_result=arrived
                )
            results.update(zip(runnable, ran, strict=True))
        return [results[i] for i in range(len(specs))]

    def _take_early(
        self,
        specs: list[tuple[str, dict[str, Any]]],
        owners: list[str],
        refused: Mapping[int, CheckResult | None],
        on_result: Callable[[str, CheckResult], None] | None,
    ) -> dict[int, CheckResult]:
        """The results of the checks begun early that ran as these would (see _begin_checks),
        by position in `specs`, each reported as it is taken; taken once."""
        if self.early is None:
            return {}
        early, self.early = self.early, None
        candidates = [i for i in range(len(specs)) if refused[i] is None]
        taken = early.take(
            self.check_context(), [specs[i] for i in candidates], [owners[i] for i in candidates]
        )
        results = {candidates[position]: result for position, result in taken.items()}
        if on_result:
            for index, result in sorted(results.items()):
                on_result(owners[index], result)
        return results

    def _verdict(
        self, record: StepRecord, failed: list[CheckResult], checked: float
    ) -> dict[str, Any]:
        """A step's new status after its checks (wizard.verdict)."""
        manifest = self.traces.manifest if self.traces else self._read_traces().manifest
        return verdict(record, failed, checked, manifest)

    # ----------------------------------------------------------------- records
    def _save_step(self, step_id: str, **changes: Any) -> None:
        record = dataclasses.replace(self.host.step(step_id), updated=time.time(), **changes)
        self.host = dataclasses.replace(self.host, steps={**self.host.steps, step_id: record})
        self.store.save_host(self.host)

    def _push_server_copy(self) -> None:
        """Write the host record to the server, so another machine can resume."""
        data = json.dumps(self.host.to_json(), indent=1).encode()
        write = heredoc(sh("base64 -d > {tmp}", tmp=SERVER_STATE + ".tmp"), data)
        with self.stats.phase("state"):
            self.remote.run(
                sh(
                    "mkdir -p {dir} && umask 077 && {write}\nmv -f {tmp} {state}",
                    dir=STATE_DIR,
                    write=write,
                    tmp=SERVER_STATE + ".tmp",
                    state=SERVER_STATE,
                )
            )

    def close(self) -> None:
        """End the SSH session."""
        self.remote.close()


def _connect(
    options: ConnectOptions, stats: Stats | None, defaulted: bool, known: HostRecord | None
) -> Remote:
    """Log in as the target's user. When that user only came from this machine's record (the
    admin it made) and is refused, as after a reinstall, root is tried once instead."""

    def login(target: Target) -> Remote:
        return Remote.connect(
            target, options.credentials, options.known_hosts, options.accept_fingerprint, stats
        )

    try:
        return login(options.target)
    except ConnectionFailed as refused:
        if "refused the login" not in refused.message or known is None:
            raise
        admin = known.admin_user
        if defaulted:
            try:
                return login(dataclasses.replace(options.target, user="root"))
            except ConnectionFailed:
                pass
            raise ConnectionFailed(
                refused.message,
                f"{admin} is the admin this machine recorded, and root was refused too. "
                f"Give the user to log in as: vps-wizard ... USER@{options.target.host}",
            ) from None
        if admin and options.target.user != admin:
            raise ConnectionFailed(
                refused.message,
                f"The user you gave is the one used. This machine recorded {admin} as the "
                f"admin (root login is closed once ssh-hardening is applied): give "
                f"{admin}@{options.target.host}, or no user.",
            ) from None
        raise


def _digest(script: PublicScript) -> str:
    """What names a facts script in the kept facts: its SHA-256."""
    return hashlib.sha256(script.encode()).hexdigest()


def _empty_facts() -> Facts:
    return Facts("", "", "", "", "", "", "", "", (), (), "", 22, "", frozenset())
