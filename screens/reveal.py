"""What an apply made that the user must keep (a backup repository's password), shown this
once: the server marks it shown, and the wizard keeps it nowhere (not the apply's log, not its
state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from screens.text import shown

if TYPE_CHECKING:
    from wizard.reveal import Secret


class RevealModal(ModalScreen[None]):
    """Each secret with what it is; closes only on the user's word that it is stored."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "stored", "I stored it"),
    ]

    def __init__(self, step_id: str, secrets: tuple[Secret, ...]) -> None:
        super().__init__()
        self.step_id = step_id
        self.secrets = secrets

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"{self.step_id}: keep a copy now, it is not shown again", id="title")
            for secret in self.secrets:
                yield Static(shown(f"{secret.label} ({secret.path}):"), classes="meaning")
                yield Static(shown(secret.value), classes="secret")
            with Horizontal(id="buttons"):
                yield Button("I stored it (enter)", id="stored", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stored", Button).focus()

    @on(Button.Pressed, "#stored")
    def action_stored(self) -> None:
        """Close: the run goes on to its checks."""
        self.dismiss(None)
