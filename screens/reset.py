"""A modal shown on connect when the server does not back this machine's record of it."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from screens.text import shown
from wizard.session import ResetSuspected


class ResetModal(ModalScreen[str]):
    """Says the server looks reinstalled or reset; dismisses with "start-over", "verify" or
    "later". Later is the default: starting over is a deliberate choice (it is undone by
    nothing but the archive)."""

    CSS_PATH = "reset.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "answer('start-over')", "Start over"),
        Binding("v", "answer('verify')", "Verify step by step"),
        Binding("escape", "answer('later')", "Not now"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, reset: ResetSuspected) -> None:
        super().__init__()
        self.reset = reset

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("The server looks reinstalled or reset", id="title")
            yield Static(shown(self.reset.message), id="reason")
            yield Static(
                "Start over: this machine's record of the server is archived (not deleted) "
                "and every step starts from pending. Verify step by step: the checks of "
                f"{', '.join(self.reset.claimed)} run now and say what is still true.",
                id="hint",
            )
            with Horizontal(id="buttons"):
                yield Button(
                    "Start over (the old record archived)",
                    id="start-over",
                    variant="warning",
                    compact=True,
                )
                yield Button("Verify step by step", id="verify", compact=True)
                yield Button("Not now", id="later", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#later", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "later")

    def action_answer(self, choice: str) -> None:
        """Dismiss with the user's choice."""
        self.dismiss(choice)
