"""A yes-or-no question asked before something happens, safe by default: the second admin the
engine asks about during a run, and an apply that skips files (screens/skipped.py)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from screens.text import shown


class ConfirmModal(ModalScreen[bool]):
    """Dismisses True only on an explicit yes; escape, n and the focused button say no.

    A subclass that means something else by no ("back to the review") names it in its own
    BINDINGS and passes the same words as `no_label`."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No, stop here"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(
        self, title: str, meaning: str, yes_label: str, no_label: str = "No, stop here"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.meaning = meaning
        self.yes_label = yes_label
        self.no_label = no_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(shown(self.title_text), id="title")
            yield Static(shown(self.meaning), id="meaning")
            with Horizontal(id="buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="warning", compact=True)
                yield Button(f"{self.no_label} (n)", id="no", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Dismiss with the user's choice."""
        self.dismiss(yes)
