"""Messages the app's thread workers post back to the event loop with the engine's results.

Workers never touch widgets: they post one of these (posting is thread-safe) and the app's
handlers decide which screen shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    # Types only: the first screen imports these messages, and the engine behind them loads
    # while it connects (tests/tui/test_startup_budget.py).
    from screens.engine import WizardSession
    from screens.review_all import RunPlan
    from wizard.apply import ApplyOutcome
    from wizard.checks.base import CheckResult
    from wizard.endpoint import ConnectOptions
    from wizard.errors import AnswerError, ApplyFailed, UnknownHostKey
    from wizard.plan import Plan
    from wizard.steps import Step


class SessionOpened(Message):
    """Connected, facts gathered, state resumed."""

    def __init__(self, session: WizardSession) -> None:
        super().__init__()
        self.session = session


class HostKeyUnknown(Message):
    """The server's key is not in known_hosts: only the user may accept it."""

    def __init__(self, error: UnknownHostKey, options: ConnectOptions) -> None:
        super().__init__()
        self.error = error
        self.options = options


class AnswersReady(Message):
    """The prefilled answers of a step, to open its form."""

    def __init__(self, step: Step, defaults: dict[str, Any]) -> None:
        super().__init__()
        self.step = step
        self.defaults = defaults


class PlanReady(Message):
    """A step's plan, to review."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan


class AnswersRefused(Message):
    """The engine refused the answers (a rule that needs the server's facts)."""

    def __init__(self, step: Step, error: AnswerError) -> None:
        super().__init__()
        self.step = step
        self.error = error


class ApplyEnded(Message):
    """An apply finished: `outcome` when it worked, `failure` when it was rolled back, and
    the plans of the steps it made outdated (the firewall, for a step that opens a port)."""

    def __init__(
        self,
        plan: Plan,
        outcome: ApplyOutcome | None,
        failure: ApplyFailed | None,
        followups: tuple[Plan, ...] = (),
    ) -> None:
        super().__init__()
        self.plan = plan
        self.outcome = outcome
        self.failure = failure
        self.followups = followups


class VerifyEnded(Message):
    """The checks of some steps are done."""

    def __init__(self, results: dict[str, list[CheckResult]]) -> None:
        super().__init__()
        self.results = results


class WorkFailed(Message, bubble=False):
    """A worker of `group` ended with an error (already shown): screens waiting on it reset."""

    def __init__(self, group: str) -> None:
        super().__init__()
        self.group = group


class BackToOverview(Message):
    """A screen is done: return to the list of steps."""


class RunPreviewed(Message):
    """The steps not applied yet, planned as one run (or the answers that were refused)."""

    def __init__(self, run: RunPlan) -> None:
        super().__init__()
        self.run = run


class RunStepPlanned(Message):
    """A step of the run planned again when its turn came, and held to the preview."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan
