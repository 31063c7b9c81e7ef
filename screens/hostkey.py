"""A modal that asks the user to trust a server's host key the first time they connect."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from screens.text import shown
from wizard.errors import UnknownHostKey


class HostKeyModal(ModalScreen[bool]):
    """Shows host, key type and SHA256 fingerprint; dismisses with True only on "Yes".

    No is the default button: trusting a key must be a deliberate choice.
    """

    CSS_PATH = "hostkey.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes, trust it"),
        Binding("n,escape", "answer(False)", "No"),
        # Modal screens cut the app's bindings off; quitting must work everywhere.
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, error: UnknownHostKey) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Unknown host key", id="title")
            yield Static(shown(f"Host:        {self.error.host}"))
            yield Static(shown(f"Key type:    {self.error.key_type}"))
            yield Static(shown(f"Fingerprint: {self.error.fingerprint}"), id="fingerprint")
            if self.error.hint:
                yield Static(shown(self.error.hint), id="hint")
            yield Label("Trust this key?", id="question")
            with Horizontal(id="buttons"):
                yield Button("Yes, trust it", id="yes", variant="warning", compact=True)
                yield Button("No", id="no", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, trust: bool) -> None:
        """Dismiss with the user's answer."""
        self.dismiss(trust)
