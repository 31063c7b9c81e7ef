"""The one run sequence both front ends step through (wizard.workflow): what it asks, in which
order, what each answer does, and where it stops."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from wizard.answers import Answers
from wizard.apply import ApplyOutcome
from wizard.catalog import Catalog, load_catalog
from wizard.checks.base import CheckResult
from wizard.errors import ApplyFailed, WizardError
from wizard.plan import CommandChange, FileChange, Plan
from wizard.preview import PlannedStep
from wizard.reveal import Secret
from wizard.shell import Shell
from wizard.steps import Command
from wizard.workflow import (
    Adopted,
    Applied,
    Applying,
    ApplyRolledBack,
    ConfirmSecondAdmin,
    Decision,
    Revealed,
    Review,
    RunEnd,
    StepDone,
    Stopped,
    Verified,
    Verifying,
    run_steps,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def changed(catalog: Catalog, step_id: str, content: bytes = b"new\n") -> Plan:
    """A plan that writes one new file."""
    step = catalog.get(step_id)
    spec = step.files[0]
    change = FileChange(spec, f"/etc/test/{step_id}", content, None)
    return Plan(step, Answers(step_id, {"username": "bob"}), (change,), (), (), (), step.packages)


def unchanged(catalog: Catalog, step_id: str) -> Plan:
    step = catalog.get(step_id)
    return Plan(step, Answers(step_id, {}), (), (), (), (), step.packages)


@dataclasses.dataclass
class Server:
    """A session whose plans, follow-ups, failures and check results a test sets."""

    plans: dict[str, Plan]
    followup_plans: dict[str, list[Plan]] = dataclasses.field(default_factory=dict)
    failing_apply: set[str] = dataclasses.field(default_factory=set)
    failing_checks: set[str] = dataclasses.field(default_factory=set)
    failing_install: bool = False
    warning: str = ""
    calls: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    secrets: dict[str, tuple[Secret, ...]] = dataclasses.field(default_factory=dict)
    applied: list[Plan] = dataclasses.field(default_factory=list)

    def plan(self, step_id: str, raw: Mapping[str, Any] | None = None) -> Plan:
        self.calls.append(("plan", step_id))
        return self.plans[step_id]

    def second_admin(self, plan: Plan) -> str:
        return self.warning if plan.step.id == "admin-user" else ""

    def adopt(self, plan: Plan) -> None:
        self.calls.append(("adopt", plan.step.id))

    def apply(self, plan: Plan, on_event: Any = None) -> ApplyOutcome:
        self.calls.append(("apply", plan.step.id))
        self.applied.append(plan)
        if on_event is not None:
            on_event(f"applying {plan.step.id}")
        if plan.step.id in self.failing_apply:
            raise ApplyFailed(f"{plan.step.id} was rolled back", "fix it")
        return ApplyOutcome(f"run-{plan.step.id}", "done", ())

    def install(self, packages: Any, on_event: Any = None) -> ApplyOutcome:
        self.calls.append(("install", " ".join(packages)))
        if on_event is not None:
            on_event(f"installing {' '.join(packages)}")
        if self.failing_install:
            raise ApplyFailed("apt-get install failed", "fix it")
        return ApplyOutcome("run-packages", "done", ())

    def reveal_once(self, plan: Plan) -> tuple[Secret, ...]:
        self.calls.append(("reveal_once", plan.step.id))
        return self.secrets.pop(plan.step.id, ())

    def followups(self, step_id: str) -> list[Plan]:
        self.calls.append(("followups", step_id))
        return self.followup_plans.pop(step_id, [])

    def verify(
        self, step_ids: Iterable[str], on_result: Any = None
    ) -> dict[str, list[CheckResult]]:
        ids = list(step_ids)
        self.calls.append(("verify", ",".join(ids)))
        status = {i: "fail" if i in self.failing_checks else "ok" for i in ids}
        return {i: [CheckResult(f"{i}.check", status[i], "said")] for i in ids}  # type: ignore[misc]


def drive(workflow, answers: dict[type, Any]) -> tuple[list[Any], RunEnd]:
    """Step through a workflow answering each kind of event as given (a list: in turn)."""
    events: list[Any] = []
    answer: Any = None
    try:
        while True:
            event = workflow.send(answer)
            events.append(event)
            given = answers.get(type(event))
            answer = given.pop(0) if isinstance(given, list) else given
    except StopIteration as ended:
        return events, RunEnd(ended.value)


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_step_is_reviewed_applied_its_followup_reviewed_and_applied_then_both_checked(catalog):
    lines: list[str] = []
    server = Server(
        {"web": changed(catalog, "web")}, {"web": [changed(catalog, "firewall", b"80\n")]}
    )
    events, end = drive(
        run_steps(server, [("web", {})]),
        {Review: Decision.APPLY, Applying: lines.append},
    )
    assert end is RunEnd.DONE
    assert kinds(events) == [
        "Review",
        "Applying",
        "Applied",
        "Review",
        "Applying",
        "Applied",
        "Verifying",
        "Verified",
        "StepDone",
    ]
    followup = events[3]
    assert followup.cause == "web" and followup.reason == "web changed what firewall must do"
    assert events[6].step_ids == ("web", "firewall")
    assert lines == ["applying web", "applying firewall"]
    done = events[-1]
    assert (done.run_id, done.followups) == ("run-web", ("firewall",))


def test_declining_a_followup_leaves_it_and_checks_the_step(catalog):
    server = Server({"web": changed(catalog, "web")}, {"web": [changed(catalog, "firewall")]})
    answers = {Review: [Decision.APPLY, Decision.SKIP]}
    _, end = drive(run_steps(server, [("web", {})]), answers)
    assert end is RunEnd.DONE
    assert ("apply", "firewall") not in server.calls
    assert ("verify", "web") in server.calls


def test_stop_at_a_review_changes_nothing_more(catalog):
    server = Server({"base": changed(catalog, "base"), "web": changed(catalog, "web")})
    events, end = drive(
        run_steps(server, [("base", {}), ("web", {})]), {Review: [Decision.APPLY, Decision.STOP]}
    )
    assert end is RunEnd.STOPPED
    assert [c for c in server.calls if c[0] == "apply"] == [("apply", "base")]
    assert isinstance(events[-1], Stopped)
    assert events[0].position == "step 1 of 2"


def test_skip_goes_on_with_the_next_step(catalog):
    server = Server({"base": changed(catalog, "base"), "web": changed(catalog, "web")})
    _, end = drive(
        run_steps(server, [("base", {}), ("web", {})]), {Review: [Decision.SKIP, Decision.APPLY]}
    )
    assert end is RunEnd.DONE
    assert [c for c in server.calls if c[0] == "apply"] == [("apply", "web")]


def test_the_plan_as_approved_in_the_review_is_what_is_applied(catalog):
    plan = changed(catalog, "base")
    skipped = plan.with_approval(plan.files[0].dest, False)
    server = Server({"base": plan})
    applied: list[Plan] = []
    original = server.apply

    def spy(p: Plan, on_event: Any = None) -> ApplyOutcome:
        applied.append(p)
        return original(p, on_event)

    server.apply = spy  # type: ignore[method-assign]
    drive(run_steps(server, [("base", {})]), {Review: skipped})
    assert [c.approved for c in applied[0].files] == [False]


def test_nothing_to_change_is_adopted_without_asking_then_checked(catalog):
    server = Server({"base": unchanged(catalog, "base")})
    events, end = drive(run_steps(server, [("base", {})]), {})
    assert end is RunEnd.DONE
    assert kinds(events) == ["Adopted", "Verifying", "Verified", "StepDone"]
    assert "nothing to change" in events[1].heading


def test_a_failed_apply_ends_the_run_rolled_back(catalog):
    server = Server({"base": changed(catalog, "base"), "web": changed(catalog, "web")})
    server.failing_apply.add("base")
    events, end = drive(run_steps(server, [("base", {}), ("web", {})]), {Review: Decision.APPLY})
    assert end is RunEnd.APPLY_FAILED
    assert isinstance(events[-1], ApplyRolledBack)
    assert ("plan", "web") not in server.calls and not [c for c in server.calls if c[0] == "verify"]


def test_a_failed_check_stops_the_run_before_the_next_step(catalog):
    server = Server({"base": changed(catalog, "base"), "web": changed(catalog, "web")})
    server.failing_checks.add("base")
    events, end = drive(run_steps(server, [("base", {}), ("web", {})]), {Review: Decision.APPLY})
    assert end is RunEnd.CHECK_FAILED
    assert events[-1] == Stopped("a check of base failed")
    assert ("plan", "web") not in server.calls
    verified = next(e for e in events if isinstance(e, Verified))
    assert verified.failed == ["base"]


@pytest.mark.parametrize(("confirmed", "end"), [(True, RunEnd.DONE), (False, RunEnd.STOPPED)])
def test_a_second_admin_is_asked_for_explicitly(catalog, confirmed, end):
    server = Server({"admin-user": changed(catalog, "admin-user")}, warning="bob would be added")
    events, ended = drive(
        run_steps(server, [("admin-user", {})]),
        {Review: Decision.APPLY, ConfirmSecondAdmin: confirmed},
    )
    assert ended is end
    assert events[0].second_admin == "bob would be added"
    asked = [e for e in events if isinstance(e, ConfirmSecondAdmin)]
    assert asked == [ConfirmSecondAdmin(events[0].plan, "bob would be added")]
    assert (("apply", "admin-user") in server.calls) is confirmed
    done = [e for e in events if isinstance(e, StepDone)]
    assert [d.second_admin for d in done] == (["bob would be added"] if confirmed else [])


def test_a_previewed_step_that_now_differs_is_refused_before_it_is_asked(catalog):
    shown = changed(catalog, "base", b"as reviewed\n")
    server = Server({"base": changed(catalog, "base", b"something else\n")})
    workflow = run_steps(server, [("base", {})], [PlannedStep(shown)])
    with pytest.raises(WizardError, match="step base would now write something else"):
        workflow.send(None)
    assert not [c for c in server.calls if c[0] == "apply"]


def test_a_previewed_followup_that_now_differs_stops_the_run(catalog):
    base = changed(catalog, "base")
    shown = changed(catalog, "firewall", b"22, 80\n")
    server = Server({"base": base}, {"base": [changed(catalog, "firewall", b"22, 8080\n")]})
    previewed = [PlannedStep(base), PlannedStep(shown, ("base",), "base needs 80/tcp", "base")]
    workflow = run_steps(server, [("base", {})], previewed)
    with pytest.raises(WizardError, match="step firewall would now write something else"):
        drive(workflow, {Review: Decision.APPLY})
    assert ("apply", "firewall") not in server.calls


def test_events_say_what_happened_in_order(catalog):
    server = Server({"base": changed(catalog, "base")})
    events, _ = drive(run_steps(server, [("base", {})]), {Review: Decision.APPLY})
    applied = next(e for e in events if isinstance(e, Applied))
    assert applied.outcome.run_id == "run-base"
    assert isinstance(events[1], Applying) and isinstance(events[3], Verifying)
    assert not [e for e in events if isinstance(e, Adopted)]


def test_what_the_apply_made_to_keep_is_shown_after_it_then_checked(catalog):
    secret = Secret("the password", "/etc/x/password", "s3cret")
    server = Server({"base": changed(catalog, "base")}, secrets={"base": (secret,)})
    events, end = drive(run_steps(server, [("base", {})]), {Review: Decision.APPLY})
    kinds = [type(e) for e in events]
    assert kinds.index(Applied) < kinds.index(Revealed) < kinds.index(Verifying)
    revealed = next(e for e in events if isinstance(e, Revealed))
    assert revealed.secrets == (secret,) and end is RunEnd.DONE
    # The value stays out of what is printed of the event (a traceback, a debug line).
    assert "s3cret" not in repr(revealed)


def test_nothing_to_keep_is_no_event(catalog):
    server = Server({"base": changed(catalog, "base")})
    events, _ = drive(run_steps(server, [("base", {})]), {Review: Decision.APPLY})
    assert not [e for e in events if isinstance(e, Revealed)]
    assert ("reveal_once", "base") in server.calls


def installing(catalog: Catalog, step_id: str, *packages: str) -> Plan:
    """A plan that writes one new file and installs packages."""
    return dataclasses.replace(changed(catalog, step_id), missing_packages=packages)


def series(catalog: Catalog) -> tuple[Server, list[PlannedStep]]:
    """base, database and fail2ban previewed, each bringing packages (base's sudo again for
    fail2ban is left out by the preview), the firewall a follow-up of fail2ban's."""
    base = installing(catalog, "base", "unattended-upgrades", "sudo")
    database = installing(catalog, "database", "mariadb-server")
    fail2ban = installing(catalog, "fail2ban", "fail2ban", "python3-systemd")
    firewall = installing(catalog, "firewall", "nftables")
    previewed = [
        PlannedStep(base),
        PlannedStep(database, ("base",)),
        PlannedStep(fail2ban, ("base", "database")),
        PlannedStep(firewall, ("base", "database", "fail2ban"), "fail2ban needs it", "fail2ban"),
    ]
    server = Server(
        {"base": base, "database": database, "fail2ban": fail2ban},
        {"fail2ban": [firewall]},
    )
    return server, previewed


SELECTION = [("base", {}), ("database", {}), ("fail2ban", {})]


def test_a_previewed_run_installs_every_steps_packages_at_once_before_its_first_apply(catalog):
    server, previewed = series(catalog)
    lines: list[str] = []
    events, end = drive(
        run_steps(server, SELECTION, previewed, current=True),
        {Review: Decision.APPLY, Applying: lines.append},
    )
    assert end is RunEnd.DONE
    reviews = [e for e in events if isinstance(e, Review)]
    # The first review says what the run installs, in series order, the follow-up's too.
    assert reviews[0].installs == (
        "unattended-upgrades",
        "sudo",
        "mariadb-server",
        "fail2ban",
        "python3-systemd",
        "nftables",
    )
    assert [r.installs for r in reviews[1:]] == [(), (), ()]
    # One install, before the first apply, its lines where the first step's go.
    assert [c for c in server.calls if c[0] in ("install", "apply")][:2] == [
        ("install", " ".join(reviews[0].installs)),
        ("apply", "base"),
    ]
    assert [c[0] for c in server.calls].count("install") == 1
    assert lines[:2] == [f"installing {' '.join(reviews[0].installs)}", "applying base"]
    # No step's apply installs anything, nor is a later review shown as installing.
    assert [p.missing_packages for p in server.applied] == [(), (), (), ()]
    assert [r.plan.missing_packages for r in reviews[1:]] == [(), (), ()]


def test_a_run_whose_packages_come_from_one_step_leaves_them_to_its_apply(catalog):
    base = installing(catalog, "base", "unattended-upgrades")
    web = changed(catalog, "web")
    server = Server({"base": base, "web": web})
    previewed = [PlannedStep(base), PlannedStep(web, ("base",))]
    events, end = drive(
        run_steps(server, [("base", {}), ("web", {})], previewed), {Review: Decision.APPLY}
    )
    assert end is RunEnd.DONE
    assert not [c for c in server.calls if c[0] == "install"]
    assert [r.installs for r in events if isinstance(r, Review)] == [(), ()]
    assert server.applied[0].missing_packages == ("unattended-upgrades",)


def test_without_a_preview_every_step_installs_its_own(catalog):
    server, _ = series(catalog)
    drive(run_steps(server, SELECTION), {Review: Decision.APPLY})
    assert not [c for c in server.calls if c[0] == "install"]


def test_a_skipped_first_step_passes_the_install_on_without_its_packages(catalog):
    server, previewed = series(catalog)
    events, end = drive(
        run_steps(server, SELECTION, previewed),
        {Review: [Decision.SKIP, Decision.APPLY, Decision.APPLY, Decision.APPLY]},
    )
    assert end is RunEnd.DONE
    reviews = [e for e in events if isinstance(e, Review)]
    assert reviews[0].installs and reviews[1].installs == (
        "mariadb-server",
        "fail2ban",
        "python3-systemd",
        "nftables",
    )
    assert ("install", "unattended-upgrades sudo") not in server.calls
    assert [c for c in server.calls if c[0] == "install"] == [
        ("install", "mariadb-server fail2ban python3-systemd nftables")
    ]


def test_a_failed_install_ends_the_run_before_any_step_is_applied(catalog):
    server, previewed = series(catalog)
    server.failing_install = True
    events, end = drive(run_steps(server, SELECTION, previewed), {Review: Decision.APPLY})
    assert end is RunEnd.APPLY_FAILED
    rolled_back = events[-1]
    assert isinstance(rolled_back, ApplyRolledBack) and rolled_back.plan.step.id == "base"
    assert "apt-get install failed" in rolled_back.failure.message
    assert not [c for c in server.calls if c[0] in ("apply", "verify")]


def test_the_first_step_is_planned_again_after_the_install_its_skipped_files_kept(catalog):
    """The packages may have put files where the step writes (unattended-upgrades' own
    20auto-upgrades): the step is planned again after them, held to the preview, and the
    files the user left out stay out."""
    server, previewed = series(catalog)
    approved = server.plans["base"].with_approval("/etc/test/base", False)
    drive(
        run_steps(server, SELECTION, previewed, current=True),
        {Review: [approved, Decision.APPLY, Decision.APPLY, Decision.APPLY]},
    )
    calls = [c for c in server.calls if c[0] in ("install", "plan", "apply")]
    assert calls[:3] == [
        ("install", "unattended-upgrades sudo mariadb-server fail2ban python3-systemd nftables"),
        ("plan", "base"),
        ("apply", "base"),
    ]
    assert [c.approved for c in server.applied[0].files] == [False]


def test_a_first_step_that_differs_once_the_packages_are_in_stops_the_run(catalog):
    server, previewed = series(catalog)
    base = server.plans["base"]
    other = dataclasses.replace(base.files[0], new=b"other\n")
    server.plans["base"] = dataclasses.replace(base, files=(other,))
    workflow = run_steps(server, SELECTION, previewed, current=True)
    with pytest.raises(WizardError, match="step base would now write something else"):
        drive(workflow, {Review: Decision.APPLY})
    assert [c[0] for c in server.calls if c[0] in ("install", "apply")] == ["install"]


def test_a_step_that_runs_apt_itself_goes_first_with_its_own_packages(catalog):
    """base adding the security suite runs apt-get update: the run's install comes after it,
    resolved against the lists it left (one step's packages on their own, the rest at once)."""
    server, previewed = series(catalog)
    update = CommandChange(Command("apt-get update"), Shell("apt-get -q update"), None, None, True)
    base = dataclasses.replace(server.plans["base"], commands=(update,))
    server.plans["base"] = base
    previewed[0] = PlannedStep(base)
    events, end = drive(
        run_steps(server, SELECTION, previewed, current=True), {Review: Decision.APPLY}
    )
    assert end is RunEnd.DONE
    reviews = [e for e in events if isinstance(e, Review)]
    assert reviews[0].installs == ()
    assert reviews[1].installs == ("mariadb-server", "fail2ban", "python3-systemd", "nftables")
    assert server.applied[0].missing_packages == ("unattended-upgrades", "sudo")
    calls = [c for c in server.calls if c[0] in ("install", "apply")]
    assert calls[:3] == [
        ("apply", "base"),
        ("install", "mariadb-server fail2ban python3-systemd nftables"),
        ("apply", "database"),
    ]
