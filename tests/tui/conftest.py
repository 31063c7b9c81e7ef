"""Fixtures for the TUI tests: a real catalog, real plans and results, a fake session.

The fake implements only the Session methods the screens use and returns real engine values
(Plan, FileChange, StepStatus, CheckResult), so these tests exercise the screens, not a server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# Until the project is installed in the venv, make the shipped steps importable under the
# package name the catalog loads them by (pyproject maps vps_wizard_templates to templates/).
if importlib.util.find_spec("vps_wizard_templates") is None:
    _spec = importlib.util.spec_from_file_location(
        "vps_wizard_templates",
        ROOT / "templates" / "__init__.py",
        submodule_search_locations=[str(ROOT / "templates")],
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["vps_wizard_templates"] = _module
    _spec.loader.exec_module(_module)

from screens.app import WizardApp  # noqa: E402
from wizard.answers import Answers, validate_answers  # noqa: E402
from wizard.apply import ApplyOutcome  # noqa: E402
from wizard.catalog import Catalog, load_catalog  # noqa: E402
from wizard.checks.base import CheckResult  # noqa: E402
from wizard.errors import AnswerError, WizardError  # noqa: E402
from wizard.facts import Facts  # noqa: E402
from wizard.plan import CommandChange, FileChange, Plan  # noqa: E402
from wizard.preview import PlannedStep  # noqa: E402
from wizard.remote import Stats, Target  # noqa: E402
from wizard.reveal import Secret  # noqa: E402
from wizard.serverfiles import RemoteFile  # noqa: E402
from wizard.session import ConnectOptions, StepStatus  # noqa: E402
from wizard.state import StateStore, StepRecord  # noqa: E402
from wizard.steps import Step  # noqa: E402

APPLIED = ("applied", "verified", "drifted", "failed-verify", "outdated")

# A raw answer of each question type that its parser accepts.
SAMPLE_ANSWERS: dict[str, Any] = {
    "fqdn": "vps.example.org",
    "domain": "example.org",
    "timezone": "UTC",
    "username": "alice",
    "ssh_pubkey": "ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIEw4T4jNCSPapkuLfu7+Q8ATIzdYckufv30xd3CcG9ZG alice@laptop",
    "port": "22",
    "port_list": "",
    "network_list": "",
    "email": "admin@example.org",
    "ip": "192.0.2.10",
    "ipv4": "192.0.2.10",
    "ipv6": "",
    "hostname": "vps",
    "secret": "",
}


def sample_facts(os_pretty: str = "Debian GNU/Linux 12 (bookworm)") -> Facts:
    """What a fresh Debian 12 server says it is."""
    return Facts(
        "debian",
        "12",
        os_pretty,
        "debian",
        "6.1.0-18-amd64",
        "debian",
        "debian",
        "Etc/UTC",
        ("192.0.2.10",),
        (),
        "198.51.100.7",
        22,
        "root",
        frozenset(),
    )


def sample_defaults(step: Step) -> dict[str, Any]:
    """Prefilled answers the way Session.default_answers shapes them."""
    defaults: dict[str, Any] = {}
    for question in step.questions:
        if question.type == "bool":
            defaults[question.name] = True
        elif question.type == "choice":
            defaults[question.name] = question.choices[0]
        else:
            defaults[question.name] = SAMPLE_ANSWERS.get(question.type, "")
    return defaults


def base_plan(catalog: Catalog, raw: Mapping[str, Any] | None = None) -> Plan:
    """A real plan of the base step: two files updated, one created, two unchanged."""
    step = catalog.get("base")
    answers = validate_answers(step, {**sample_defaults(step), **(raw or {})})
    specs = {spec.template: spec for spec in step.files}

    def remote(path: str, content: str, mode: str = "0644") -> RemoteFile:
        return RemoteFile(path, content.encode(), mode, "root", "root")

    hosts_old = "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n\n::1\tlocalhost ip6-localhost\n"
    hosts_new = (
        "# Managed by vps-wizard (step base).\n127.0.0.1\tlocalhost\n"
        "192.0.2.10\tvps.example.org vps\n\n::1\tlocalhost ip6-localhost\n"
    )
    unattended = 'APT::Periodic::Update-Package-Lists "1";\n'
    files = (
        FileChange(
            specs["hostname.j2"], "/etc/hostname", b"vps\n", remote("/etc/hostname", "debian\n")
        ),
        FileChange(
            specs["hosts.j2"], "/etc/hosts", hosts_new.encode(), remote("/etc/hosts", hosts_old)
        ),
        FileChange(specs["locale.j2"], "/etc/default/locale", b"LANG=C.UTF-8\n", None),
        FileChange(
            specs["20auto-upgrades.j2"],
            "/etc/apt/apt.conf.d/20auto-upgrades",
            unattended.encode(),
            remote("/etc/apt/apt.conf.d/20auto-upgrades", unattended),
        ),
    )
    commands = tuple(
        CommandChange(command, command.run, command.creates, "true", index == 0)
        for index, command in enumerate(step.commands)
    )
    return Plan(step, answers, files, commands, ("unattended-upgrades",), (), step.packages)


def firewall_plan(catalog: Catalog) -> Plan:
    """A real plan of the firewall step that opens one more port."""
    step = catalog.get("firewall")
    answers = validate_answers(step, sample_defaults(step))
    spec = step.files[0]
    old = RemoteFile(spec.dest, b"tcp dport { 22 } accept\n", "0644", "root", "root")
    change = FileChange(spec, spec.dest, b"tcp dport { 22, 80 } accept\n", old)
    return Plan(step, answers, (change,), (), (), (), step.packages)


def new_file_plan(catalog: Catalog, step_id: str) -> Plan:
    """A real plan that creates the step's first file (a step with changes to confirm)."""
    step = catalog.get(step_id)
    answers = validate_answers(step, sample_defaults(step))
    spec = step.files[0]
    dest = f"/etc/vps-wizard-test/{step_id}.conf"
    return Plan(step, answers, (FileChange(spec, dest, b"new\n", None),), (), (), (), step.packages)


def empty_plan(catalog: Catalog, step_id: str) -> Plan:
    """A real plan with nothing to change."""
    step = catalog.get(step_id)
    answers = validate_answers(step, sample_defaults(step))
    return Plan(step, answers, (), (), (), (), step.packages)


def results_for(step_id: str) -> list[CheckResult]:
    """Real check results: one of each verdict."""
    return [
        CheckResult(f"{step_id}.hostname", "ok", "hostname -f answers vps.example.org", "vps"),
        CheckResult(
            f"{step_id}.upgrades",
            "warn",
            "3 upgrades pending",
            "libc6 openssl tzdata",
            "run the base step again, or apt-get full-upgrade",
        ),
        CheckResult(
            f"{step_id}.timezone",
            "fail",
            "the time zone is Europe/Paris, not UTC",
            "Time zone: Europe/Paris (CET, +0100)",
            "apply the base step again",
        ),
    ]


class FakeSession:
    """Only the Session surface the TUI uses, answering with real engine values."""

    def __init__(self, catalog: Catalog, notices: Iterable[str] = ()) -> None:
        self.catalog = catalog
        self.notices = list(notices)
        self.facts = sample_facts()
        self.stats = Stats()
        self.records = {step.id: StepRecord(step.id) for step in catalog.steps}
        self.plans: dict[str, Plan] = {"base": base_plan(catalog)}
        self.followup_plans: dict[str, list[Plan]] = {}
        self.secrets: dict[str, tuple[Secret, ...]] = {}
        self.plan_error: Exception | None = None
        self.apply_events = ["backing up 3 files", "writing /etc/hostname", "reloading"]
        self.apply_error: Exception | None = None
        self.apply_gate: threading.Event | None = None
        self.verify_error: Exception | None = None
        # Checks that all pass (a run goes on after them) instead of one of each verdict.
        self.checks_pass = False
        # What `preview` plans for a run: set by a test; else each step's plan in order.
        self.planned: list[PlannedStep] | None = None
        # Answers refused by `validate`, by step.
        self.refusals: dict[str, str] = {}
        self.previewed_answers: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[Any, ...]] = []
        # A server that backs the record; tests/tui/test_reset.py sets one that does not.
        self.reset: Any = None
        # What `second_admin` warns of for an admin-user plan ("" for none).
        self.second_admin_warning = ""

    def overview(self) -> list[StepStatus]:
        """Every step, blocked by requirements not yet applied."""
        return [
            StepStatus(
                step,
                self.records[step.id],
                tuple(r for r in step.requires if self.records[r].status not in APPLIED),
            )
            for step in self.catalog.steps
        ]

    def next_step(self) -> Step | None:
        """The first step not verified."""
        return next((s.step for s in self.overview() if s.record.status != "verified"), None)

    def default_answers(self, step: Step) -> dict[str, Any]:
        """Valid sample answers."""
        self.calls.append(("default_answers", step.id))
        return sample_defaults(step)

    def validate(self, step: Step, raw: Mapping[str, Any]) -> Answers:
        """The sample answers are valid, unless a test set a refusal for the step."""
        self.calls.append(("validate", step.id))
        if step.id in self.refusals:
            raise AnswerError(self.refusals[step.id], "correct the answer")
        return validate_answers(step, {**sample_defaults(step), **raw})

    def preview(self, selection: Iterable[tuple[str, Mapping[str, Any]]]) -> list[PlannedStep]:
        """The prepared run, else each selected step's prepared plan, in order."""
        selection = list(selection)
        self.calls.append(("preview", [step_id for step_id, _ in selection]))
        self.previewed_answers = {step_id: dict(raw) for step_id, raw in selection}
        if self.planned is not None:
            return self.planned
        return [
            PlannedStep(self.plans.get(step_id) or empty_plan(self.catalog, step_id))
            for step_id, _ in selection
        ]

    def plan(self, step_id: str, raw: Mapping[str, Any] | None = None) -> Plan:
        """The prepared plan of the step, or the prepared error."""
        self.calls.append(("plan", step_id, dict(raw or {})))
        if self.plan_error is not None:
            raise self.plan_error
        return self.plans.get(step_id) or empty_plan(self.catalog, step_id)

    def second_admin(self, plan: Plan) -> str:
        return self.second_admin_warning if plan.step.id == "admin-user" else ""

    def apply(self, plan: Plan, on_event: Callable[[str], None] = lambda _: None) -> ApplyOutcome:
        """Report the events, then fail or record the step as applied."""
        self.calls.append(("apply", plan))
        for event in self.apply_events:
            on_event(event)
        if self.apply_gate is not None:
            self.apply_gate.wait(10)
        if self.apply_error is not None:
            self.records[plan.step.id] = StepRecord(plan.step.id, "failed")
            raise self.apply_error
        self.records[plan.step.id] = StepRecord(plan.step.id, "applied")
        return ApplyOutcome("run-1", "done", tuple(self.apply_events))

    def followups(self, step_id: str) -> list[Plan]:
        """The prepared plans of the steps this one made outdated (none unless set)."""
        self.calls.append(("followups", step_id))
        return self.followup_plans.pop(step_id, [])

    def reveal_once(self, plan: Plan) -> tuple[Secret, ...]:
        """The prepared secrets of the step, once (none unless set)."""
        self.calls.append(("reveal_once", plan.step.id))
        return self.secrets.pop(plan.step.id, ())

    def adopt(self, plan: Plan) -> None:
        """The server already matches: the step counts as applied."""
        self.calls.append(("adopt", plan.step.id))
        self.records[plan.step.id] = StepRecord(plan.step.id, "applied")

    def verify(
        self,
        step_ids: Iterable[str],
        on_result: Callable[[str, CheckResult], None] | None = None,
    ) -> dict[str, list[CheckResult]]:
        """Three results per step, reported as they 'arrive', last one first."""
        step_ids = list(step_ids)
        self.calls.append(("verify", step_ids))
        if self.verify_error is not None:
            raise self.verify_error
        results = {
            step_id: results_for(step_id)[:1] if self.checks_pass else results_for(step_id)
            for step_id in step_ids
        }
        for step_id in step_ids:
            for result in reversed(results[step_id]):
                if on_result:
                    on_result(step_id, result)
            failed = any(r.status == "fail" for r in results[step_id])
            self.records[step_id] = StepRecord(step_id, "failed-verify" if failed else "verified")
        return results


class ScriptedFactory:
    """A session factory that answers each call with the next scripted outcome."""

    def __init__(self, *outcomes: FakeSession | WizardError) -> None:
        self.outcomes = list(outcomes)
        self.options: list[ConnectOptions] = []

    def __call__(
        self, catalog: Catalog, store: StateStore, options: ConnectOptions, stats: Stats
    ) -> FakeSession:
        self.options.append(options)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, WizardError):
            raise outcome
        return outcome


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped steps."""
    return load_catalog()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    """A state database of its own (the fake session never writes to it)."""
    return StateStore(tmp_path / "state.db")


@pytest.fixture
def fake(catalog: Catalog) -> FakeSession:
    """A fresh fake session."""
    return FakeSession(catalog)


@pytest.fixture
def options() -> ConnectOptions:
    """Options as the CLI builds them for `vps-wizard root@vps.example.org`."""
    return ConnectOptions(Target("vps.example.org", "root"))


def fake_preview(session: Any, selection: Any) -> list[PlannedStep]:
    """The fake session plans a run itself (the engine's preview needs a real session)."""
    return session.preview(selection)


@pytest.fixture
def make_app(
    catalog: Catalog, store: StateStore
) -> Callable[[ConnectOptions | None, ScriptedFactory], WizardApp]:
    """Build the app around a scripted factory."""

    def make(options: ConnectOptions | None, factory: ScriptedFactory) -> WizardApp:
        return WizardApp(catalog, store, options, session_factory=factory, run_preview=fake_preview)

    return make


@pytest.fixture
def scripted() -> type[ScriptedFactory]:
    """The ScriptedFactory class, for tests to script connects."""
    return ScriptedFactory


@pytest.fixture
def fake_session_class() -> type[FakeSession]:
    """The FakeSession class, for tests that need a second session."""
    return FakeSession


# How long `settle` waits for running workers: 30 s in steps of 10 ms.
WORKER_WAIT_TRIES = 3000


async def _settle(pilot: Any, until: Callable[[], bool] | None = None, tries: int = 50) -> None:
    """Let workers finish and their messages land; with `until`, wait for that too."""
    for _ in range(tries):
        # A failed worker is shown in the error modal; the test looks there.
        # A run's worker waiting for the user's answer is not work to wait for.
        for _ in range(WORKER_WAIT_TRIES):
            if not any(w.is_running and not pilot.app.waits_for_user(w) for w in pilot.app.workers):
                break
            await asyncio.sleep(0.01)
        await pilot.pause()
        if until is None or until():
            return
    raise AssertionError("the app did not reach the expected state")


@pytest.fixture
def settle() -> Callable[..., Any]:
    """`await settle(pilot, until=lambda: ...)`: wait for workers and the resulting screens."""
    return _settle
