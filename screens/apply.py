"""A step being applied: the engine's events as they happen, then success or why it failed."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Header, ProgressBar, RichLog, Static

from screens.running import RunningScreen
from screens.text import shown
from wizard.apply import ApplyOutcome
from wizard.errors import ApplyFailed
from wizard.plan import Plan


class ApplyScreen(RunningScreen):
    """The live log of one apply; leaving is only possible once it has ended."""

    CSS_PATH = "apply.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back to overview")]
    WORK_GROUP = "apply"
    UNFINISHED = "the apply did not finish; see the error"

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(shown(self.plan.summary()), id="summary")
        # The engine reports events, not a count: the bar pulses until the run ends.
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="progress")
        yield RichLog(id="log", wrap=True, markup=False, auto_scroll=True)
        with Vertical(id="failure"):
            yield Static("", id="failure-message")
            yield Static("", id="failure-hint")
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
        # Apply output quotes the server's commands (a validate line's complaint, say).
        self.query_one("#log", RichLog).write(shown(line))

    def succeeded(self, outcome: ApplyOutcome) -> None:
        """The change is in place; the app moves on to verify."""
        self.work_ended()
        self.query_one("#status", Static).update(
            shown(f"applied (run {outcome.run_id}); verifying…")
        )

    def failed(self, error: ApplyFailed) -> None:
        """Rolled back: say what failed and what to do, and let the user go back."""
        self.work_ended()
        self.add_class("-failed")
        self.query_one("#failure-message", Static).update(shown(error.message))
        self.query_one("#failure-hint", Static).update(
            shown(f"→ {error.hint}" if error.hint else "")
        )
        self.query_one("#status", Static).update("the apply failed; the server was rolled back")
        self.query_one("#back", Button).focus()

    def work_ended(self) -> None:
        """The apply is over: the bar stops, going back is possible."""
        super().work_ended()
        self.query_one("#progress", ProgressBar).update(total=1, progress=1)
