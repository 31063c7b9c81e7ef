"""A modal that shows an error the way the user needs it: what happened, and what to do."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from screens.text import shown
from wizard.errors import WizardError

BUG_HINT = "this is a bug in vps-wizard: please report it with what you were doing"


class ErrorModal(ModalScreen[None]):
    """An error's message and hint, never a traceback; Enter or Escape closes it."""

    CSS_PATH = "error.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        # Modal screens cut the app's bindings off; quitting must work everywhere.
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, title: str, message: str, hint: str = "") -> None:
        super().__init__()
        self.error_title = title
        self.message = message
        self.hint = hint

    @classmethod
    def from_exception(cls, title: str, error: BaseException) -> ErrorModal:
        """The modal for any exception: a WizardError's own words, else type and message."""
        if isinstance(error, WizardError):
            return cls(title, error.message, error.hint)
        return cls(title, f"{type(error).__name__}: {error}", BUG_HINT)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # Messages quote user input, paths and the server's output: Text, never markup.
            yield Label(shown(self.error_title), id="title")
            with VerticalScroll(id="body"):
                yield Static(shown(self.message), id="message")
                if self.hint:
                    yield Static(shown(f"→ {self.hint}"), id="hint")
            with Horizontal(id="buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Close the modal."""
        self.dismiss(None)
