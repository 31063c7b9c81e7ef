"""The part of the engine the TUI drives, as a Protocol: the screens depend on nothing else.

`wizard.session.Session` satisfies it; the TUI tests use a small fake that does too. Every
method may block on the network, so the app calls them from thread workers only (the
read-only ones, `facts`, `overview`, `next_step` and `notices`, read memory and are safe
anywhere).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    # Types only: the app (and its first screen) imports this module, the engine loads when
    # the connection is made (engine_session) or a run is planned (engine_preview).
    from wizard.answers import Answers
    from wizard.apply import ApplyOutcome
    from wizard.catalog import Catalog
    from wizard.checks.base import CheckResult
    from wizard.endpoint import ConnectOptions, Stats
    from wizard.facts import Facts
    from wizard.plan import Plan
    from wizard.preview import PlannedStep
    from wizard.reveal import Secret
    from wizard.session import ResetSuspected, StepStatus
    from wizard.state import StateStore
    from wizard.steps import Step


class WizardSession(Protocol):
    """A connected session on one host, as the screens see it."""

    notices: list[str]
    facts: Facts
    # Set when the server does not back this machine's record (reinstalled or reset).
    reset: ResetSuspected | None

    @property
    def stats(self) -> Stats:
        """Round trips, bytes and time per phase."""
        ...

    def overview(self) -> list[StepStatus]:
        """Every step with its status and what it waits for."""
        ...

    def next_step(self) -> Step | None:
        """Where the user continues."""
        ...

    def default_answers(self, step: Step) -> dict[str, Any]:
        """Raw answers to prefill the form with."""
        ...

    def validate(self, step: Step, raw: Mapping[str, Any]) -> Answers:
        """Check the answers (the defaults fill what is not given); AnswerError says why."""
        ...

    def plan(self, step_id: str, raw: Mapping[str, Any] | None = None) -> Plan:
        """Validate the answers and compute the plan; AnswerError names the question."""
        ...

    def second_admin(self, plan: Plan) -> str:
        """The warning when the plan adds a second admin the wizard would log in as."""
        ...

    def apply(self, plan: Plan, on_event: Callable[[str], None] = ...) -> ApplyOutcome:
        """Apply a reviewed plan; ApplyFailed when it was rolled back."""
        ...

    def install(
        self, packages: Sequence[str], on_event: Callable[[str], None] = ...
    ) -> ApplyOutcome:
        """Install a whole run's packages in one apt transaction; ApplyFailed when it failed."""
        ...

    def followups(self, step_id: str) -> list[Plan]:
        """Applied steps this one made outdated, planned with their answers."""
        ...

    def adopt(self, plan: Plan) -> None:
        """Record a step whose server already matches its plan as applied."""
        ...

    def reveal_once(self, plan: Plan) -> tuple[Secret, ...]:
        """What the apply made that the user must keep, not shown yet (marked shown now)."""
        ...

    def verify(
        self,
        step_ids: Iterable[str],
        on_result: Callable[[str, CheckResult], None] | None = None,
    ) -> dict[str, list[CheckResult]]:
        """Run the checks of the given steps."""
        ...

    def start_over(self) -> str:
        """Archive this machine's record of the server and begin with an empty one."""
        ...


SessionFactory: TypeAlias = "Callable[[Catalog, StateStore, ConnectOptions, Stats], WizardSession]"
"""How the app opens a session: `engine_session` in real use, a fake in tests."""


Selection: TypeAlias = "Sequence[tuple[str, Mapping[str, Any]]]"
"""The steps of a run in order, each with its raw answers."""

RunPreview: TypeAlias = "Callable[[WizardSession, Selection], list[PlannedStep]]"
"""How the app plans a run before anything changes: `engine_preview` in real use."""


def engine_session(
    catalog: Catalog, store: StateStore, options: ConnectOptions, stats: Stats
) -> WizardSession:
    """`Session.open`, the engine imported here: in the connect worker, after the first
    screen is drawn."""
    from wizard.session import Session

    return Session.open(catalog, store, options, stats)


def engine_preview(session: WizardSession, selection: Selection) -> list[PlannedStep]:
    """The engine's preview of a run (wizard.preview), the same the CLI's plan and apply use."""
    from wizard.preview import preview
    from wizard.session import Session

    if not isinstance(session, Session):
        raise TypeError("the engine's preview plans a run on a real session only")
    return preview(session, selection)
