"""The last apply's log, opened again after the apply screen is gone (l, or the palette)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, RichLog, Static

from screens.text import shown


@dataclass
class ApplyLog:
    """What one apply reported, line by line, and how it ended ("" while it runs)."""

    step_id: str
    summary: str
    lines: list[str] = field(default_factory=list)
    ending: str = ""


class ApplyLogScreen(Screen[None]):
    """The lines of the last apply as they were shown live, with how it ended."""

    CSS_PATH = "applylog.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Back")]

    def __init__(self, log: ApplyLog) -> None:
        super().__init__()
        self.apply_log = log

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(shown(self.apply_log.summary), id="summary")
        yield RichLog(id="log", wrap=True, markup=False)
        with Horizontal(id="actions"):
            yield Static(shown(self.apply_log.ending or "still running"), id="status")
            yield Button("Back", id="back", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.apply_log.step_id}: the last apply's log"
        view = self.query_one("#log", RichLog)
        for line in self.apply_log.lines:
            view.write(shown(line))
        view.focus()

    @on(Button.Pressed, "#back")
    def action_close(self) -> None:
        """Back to where the log was opened from."""
        self.dismiss(None)
