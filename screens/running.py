"""The base of the screens that watch work in a worker (apply, verify)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.screen import Screen
from textual.widgets import Button, Static

from screens.messages import BackToOverview, WorkFailed


class RunningScreen(Screen[None]):
    """While its worker runs, 'back' is hidden: the session serves one piece of work at a time
    and the overview would show a stale status. A worker error ends the wait all the same."""

    WORK_GROUP: ClassVar[str]
    UNFINISHED: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.running = True

    def work_ended(self) -> None:
        """The worker is done: enable going back."""
        self.running = False
        self.query_one("#back", Button).disabled = False
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return not self.running
        return True

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the overview, where the cursor is on the next step."""
        if not self.running:
            self.post_message(BackToOverview())

    @on(WorkFailed)
    def _work_failed(self, event: WorkFailed) -> None:
        # The error itself is shown by the app's error modal; here the wait is over.
        if event.group == self.WORK_GROUP and self.running:
            self.work_ended()
            self.query_one("#status", Static).update(self.UNFINISHED)
