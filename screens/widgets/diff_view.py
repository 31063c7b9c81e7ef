"""A file change shown as a coloured unified diff, or old and new side by side in two panes."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Label, RichLog

from screens.text import shown
from wizard.visible import visible

if TYPE_CHECKING:
    # Types only: this screen's module loads with the app, before the first screen is drawn;
    # the engine loads with the connection (tests/tui/test_startup_budget.py).
    from wizard.plan import FileChange

REMOVED = "red"
ADDED = "green"
FILLER = "dim"


def unified(change: FileChange, secrets: Sequence[str]) -> RenderableType:
    """The engine's masked unified diff, coloured by the diff lexer, control characters shown
    (the server's side is whatever the file holds)."""
    diff = change.diff(secrets)
    if not diff.strip():
        return shown(f"{change.dest}: content unchanged", style="dim")
    from rich.syntax import Syntax  # with Pygments: loaded at the first diff, not at start

    return Syntax(
        visible(diff), "diff", theme="ansi_dark", background_color="default", word_wrap=False
    )


def side_by_side(change: FileChange, secrets: Sequence[str]) -> tuple[Text, Text]:
    """Old and new, aligned line for line so both panes scroll together.

    Removed lines are red on the left, added lines green on the right; the other side gets an
    empty filler line so that unchanged lines stay face to face.
    """
    old = change.old_text(secrets).splitlines()
    new = change.new_text(secrets).splitlines()
    left, right = Text(no_wrap=True), Text(no_wrap=True)
    width = len(str(max(len(old), len(new), 1)))

    def put(side: Text, number: int | None, line: str, style: str) -> None:
        gutter = f"{number:>{width}} " if number is not None else " " * (width + 1)
        side.append(gutter, style="dim")
        side.append_text(shown(line, style=style))
        side.append("\n")

    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                put(left, i1 + offset + 1, old[i1 + offset], "")
                put(right, j1 + offset + 1, new[j1 + offset], "")
            continue
        rows = max(i2 - i1, j2 - j1)
        for offset in range(rows):
            i, j = i1 + offset, j1 + offset
            if i < i2:
                put(left, i + 1, old[i], REMOVED)
            else:
                put(left, None, "", FILLER)
            if j < j2:
                put(right, j + 1, new[j], ADDED)
            else:
                put(right, None, "", FILLER)
    left.rstrip()
    right.rstrip()
    return left, right


class DiffView(Vertical):
    """Shows one file change, unified or side by side (`side_by_side` toggles)."""

    DEFAULT_CSS = """
    DiffView {
        height: 1fr;
    }
    DiffView RichLog {
        height: 1fr;
        background: $surface;
        scrollbar-size: 1 1;
    }
    DiffView #sides {
        display: none;
        height: 1fr;
    }
    DiffView.-side-by-side #unified {
        display: none;
    }
    DiffView.-side-by-side #sides {
        display: block;
    }
    DiffView .pane {
        width: 1fr;
    }
    DiffView .pane-title {
        width: 100%;
        background: $boost;
        text-style: bold;
        padding: 0 1;
    }
    DiffView #old-pane {
        border-right: vkey $primary;
    }
    """

    side_by_side: reactive[bool] = reactive(False)
    """Two panes (server, new) instead of one unified diff."""

    def __init__(self, secrets: Sequence[str] = (), id: str | None = None) -> None:
        super().__init__(id=id)
        self.secrets = tuple(secrets)
        self.change: FileChange | None = None
        self.text: RenderableType | None = None
        self._syncing = False

    def compose(self) -> ComposeResult:
        yield RichLog(id="unified", wrap=False, auto_scroll=False, min_width=20)
        with Horizontal(id="sides"):
            with Vertical(classes="pane", id="old-pane"):
                yield Label("on the server", classes="pane-title")
                yield RichLog(id="old", wrap=False, auto_scroll=False, min_width=10)
            with Vertical(classes="pane", id="new-pane"):
                yield Label("new", classes="pane-title")
                yield RichLog(id="new", wrap=False, auto_scroll=False, min_width=10)

    def on_mount(self) -> None:
        old, new = self.query_one("#old", RichLog), self.query_one("#new", RichLog)
        # Aligned lines only help when both panes move together.
        self.watch(old, "scroll_y", lambda y: self._sync(new, y), init=False)
        self.watch(new, "scroll_y", lambda y: self._sync(old, y), init=False)

    def _sync(self, other: RichLog, y: float) -> None:
        if self._syncing or other.scroll_y == y:
            return
        self._syncing = True
        try:
            other.scroll_to(y=y, animate=False)
        finally:
            self._syncing = False

    def show_change(self, change: FileChange) -> None:
        """Show a file change in the current mode."""
        self.change, self.text = change, None
        self._refresh_view()

    def show_text(self, text: RenderableType) -> None:
        """Show something that is not a file (the packages and commands), in one pane."""
        self.change, self.text = None, text
        self._refresh_view()

    def watch_side_by_side(self) -> None:
        self._refresh_view()

    def _refresh_view(self) -> None:
        if not self.is_mounted:
            return
        self.set_class(self.change is not None and self.side_by_side, "-side-by-side")
        # Write once the new layout is done: the logs size their lines by their width.
        self.call_after_refresh(self._write)

    def _write(self) -> None:
        # Files never wrap (a wrapped config line reads like two), they scroll sideways;
        # the commands text wraps to the pane.
        if self.change is not None and self.side_by_side:
            left, right = side_by_side(self.change, self.secrets)
            for widget_id, content in (("#old", left), ("#new", right)):
                log = self.query_one(widget_id, RichLog)
                log.clear()
                log.write(content, scroll_end=False, shrink=False)
            return
        log = self.query_one("#unified", RichLog)
        log.clear()
        if self.change is not None:
            log.write(unified(self.change, self.secrets), scroll_end=False, shrink=False)
        elif self.text is not None:
            log.write(self.text, scroll_end=False, expand=True)
