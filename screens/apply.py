"""A step being applied: the engine's events as they happen, then success or why it failed."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, ProgressBar, RichLog, Static

from screens.messages import BackToOverview, WorkFailed
from wizard.apply import ApplyOutcome
from wizard.errors import ApplyFailed
from wizard.plan import Plan


class ApplyScreen(Screen[None]):
    """The live log of one apply; leaving is only possible once it has ended."""

    CSS_PATH = "apply.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back to overview")]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan
        self.running = True

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.plan.summary(), id="summary", markup=False)
        # The engine reports events, not a count: the bar pulses until the run ends.
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="progress")
        yield RichLog(id="log", wrap=True, markup=False, auto_scroll=True)
        with Vertical(id="failure"):
            yield Static("", id="failure-message", markup=False)
            yield Static("", id="failure-hint", markup=False)
        with Horizontal(id="actions"):
            yield Static(self._running_text(), id="status")
            yield Button("Back to overview", id="back", compact=True, disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.plan.step.id}: apply"

    def _running_text(self) -> str:
        # The apply runs detached on the server: a cut link never leaves it half done.
        if self.plan.step.guard == "lockout":
            return "applying… unless confirmed by a new login, the server reverts by itself"
        return "applying… it completes on the server even if the connection drops"

    def add_event(self, line: str) -> None:
        """One line of the engine's progress (called from the worker via call_from_thread)."""
        self.query_one("#log", RichLog).write(Text(line))

    def succeeded(self, outcome: ApplyOutcome) -> None:
        """The change is in place; the app moves on to verify."""
        self._ended()
        self.query_one("#status", Static).update(f"applied (run {outcome.run_id}); verifying…")

    def failed(self, error: ApplyFailed) -> None:
        """Rolled back: say what failed and what to do, and let the user go back."""
        self._ended()
        self.add_class("-failed")
        self.query_one("#failure-message", Static).update(error.message)
        self.query_one("#failure-hint", Static).update(f"→ {error.hint}" if error.hint else "")
        self.query_one("#status", Static).update("the apply failed; the server was rolled back")
        self.query_one("#back", Button).focus()

    def _ended(self) -> None:
        self.running = False
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=1, progress=1)
        self.query_one("#back", Button).disabled = False
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Back is hidden while the apply runs: the overview would show a stale status.
        if action == "back":
            return not self.running
        return True

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the list of steps."""
        if not self.running:
            self.post_message(BackToOverview())

    @on(WorkFailed)
    def _work_failed(self, event: WorkFailed) -> None:
        # An error that is not a rollback (a lost connection, a bug) is shown by the app's
        # error modal; here the run is over all the same.
        if event.group == "apply" and self.running:
            self._ended()
            self.query_one("#status", Static).update("the apply did not finish; see the error")
