"""The list of steps: where the host is with each, what each does, and where to continue."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from screens.text import markdown_inline, shown

if TYPE_CHECKING:
    # Types only: this screen loads after the first screen is drawn, while the connection
    # waits on the network; the engine loads with the connection.
    from textual.widgets import Markdown

    from screens.engine import WizardSession
    from wizard.facts import Facts
    from wizard.session import StepStatus
    from wizard.steps import Step

# How each status reads at a glance; the engine may add statuses, shown as they are.
STATUS_STYLE: dict[str, tuple[str, str]] = {
    "pending": ("·", "dim"),
    "applied": ("●", "cyan"),
    "verified": ("✔", "green"),
    "failed": ("✘", "red"),
    "failed-verify": ("✘", "red"),
    "drifted": ("≠", "yellow"),
    "outdated": ("↻", "yellow"),
}


TITLE_WIDTH = 34
# Columns besides the description (status, step id, cell padding, focus bar, scrollbar): the
# description gets the rest of a wide terminal, at least TITLE_WIDTH.
RESERVED_WIDTH = 46


def status_cell(status: StepStatus) -> Text:
    """The status column: icon and word, or what the step still waits for."""
    icon, style = STATUS_STYLE.get(status.record.status, ("?", ""))
    text = shown(f"{icon} {status.record.status}", style=style)
    if status.blocked_by and status.record.status == "pending":
        text = Text(f"⧗ after {', '.join(status.blocked_by)}", style="dim italic")
    return text


def host_line(facts: Facts) -> Text:
    """Which system the steps are for, as the server's os-release names it."""
    system = facts.os_pretty or " ".join(filter(None, (facts.os_id, facts.os_version)))
    line = Text("Server: ", style="dim")
    line.append_text(shown(system or "unknown system", style="bold"))
    if facts.hostname:
        line.append(" · host name ", style="dim")
        line.append_text(shown(facts.hostname))
    return line


def step_help(status: StepStatus) -> str:
    """The help panel's Markdown for one step."""
    step = status.step
    parts = [f"**{step.title}**"]
    if step.chapters:
        parts[0] += f" — series chapters {step.chapters}"
    if status.blocked_by:
        parts.append(f"*Waits for: {', '.join(status.blocked_by)}.*")
    if status.record.message:
        # The message may come from the server's copy of the state: literal text, not Markdown.
        parts.append(
            f"*{markdown_inline(status.record.status)}: {markdown_inline(status.record.message)}*"
        )
    parts.append(step.help)
    return "\n\n".join(parts)


def help_widget() -> type[Markdown]:
    """The help panel's widget class, Textual's Markdown: it brings markdown-it and Pygments,
    loaded after the first screen (the app preloads it while the connection waits)."""
    from textual.widgets import Markdown

    return Markdown


class OverviewScreen(Screen[None]):
    """The steps as a table, the highlighted step's help (with its chapters), and notices."""

    CSS_PATH = "overview.tcss"
    # A tall terminal lists every step (see overview.tcss).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open step", priority=True),
        Binding("v", "verify", "Verify step"),
        Binding("l", "app.show_apply_log", "Last apply log"),
        Binding("R", "app.review_all", "Review all"),
    ]

    class StepChosen(Message):
        """Open this step's questions."""

        def __init__(self, step: Step) -> None:
            super().__init__()
            self.step = step

    class VerifyChosen(Message):
        """Run this step's checks."""

        def __init__(self, step: Step) -> None:
            super().__init__()
            self.step = step

    def __init__(self, session: WizardSession) -> None:
        super().__init__()
        self.session = session
        self.statuses: dict[str, StepStatus] = {}
        self._title_width = TITLE_WIDTH

    def compose(self) -> ComposeResult:
        markdown = help_widget()
        yield Header()
        yield Static("", id="host")
        yield Static("", id="notices")
        yield DataTable(id="steps", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="help-panel"):
            yield markdown("", id="help")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "steps"
        self._title_width = self.title_width()
        self._add_columns()
        self.reload()
        self.query_one("#steps", DataTable).focus()

    def title_width(self) -> int:
        """The description column's width for the terminal's width."""
        return max(TITLE_WIDTH, self.app.size.width - RESERVED_WIDTH)

    def _add_columns(self) -> None:
        table = self.query_one("#steps", DataTable)
        # Status first: with long titles it must stay visible at 80 columns.
        table.add_column("Status", key="status")
        table.add_column("Step", key="id")
        table.add_column("What it does", key="title", width=self._title_width)

    def on_resize(self) -> None:
        # The description column follows the terminal's width; the cursor stays where it is.
        width = self.title_width()
        table = self.query_one("#steps", DataTable)
        if not table.columns or width == self._title_width:
            return
        self._title_width = width
        row = table.cursor_row
        table.clear(columns=True)
        self._add_columns()
        self._fill()
        table.move_cursor(row=row)

    def on_screen_resume(self) -> None:
        # Back from a step: statuses and notices have changed.
        if self.is_mounted:
            self.reload()

    def reload(self) -> None:
        """Read the session's statuses (memory only) and put the cursor on the next step."""
        self.query_one("#host", Static).update(host_line(self.session.facts))
        notices = self.query_one("#notices", Static)
        notices.update(shown("\n".join(f"! {notice}" for notice in self.session.notices)))
        notices.display = bool(self.session.notices)
        self._fill()
        table = self.query_one("#steps", DataTable)
        following = self.session.next_step()
        if following is not None and following.id in self.statuses:
            table.move_cursor(row=table.get_row_index(following.id))
        self._show_help()

    def _fill(self) -> None:
        """One row per step, with the session's statuses."""
        table = self.query_one("#steps", DataTable)
        table.clear()
        self.statuses = {}
        for status in self.session.overview():
            self.statuses[status.step.id] = status
            table.add_row(
                status_cell(status),
                Text(status.step.id, style="bold"),
                Text(status.step.title, no_wrap=True, overflow="ellipsis"),
                key=status.step.id,
            )

    def highlighted(self) -> StepStatus | None:
        """The step under the cursor."""
        table = self.query_one("#steps", DataTable)
        if not self.statuses or table.cursor_row < 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.statuses.get(str(key))

    @on(DataTable.RowHighlighted, "#steps")
    def _show_help(self) -> None:
        status = self.highlighted()
        self.query_one("#help", help_widget()).update(step_help(status) if status else "")

    @on(DataTable.RowSelected, "#steps")
    def action_open(self) -> None:
        """Open the highlighted step, unless it waits for another one."""
        status = self.highlighted()
        if status is None:
            return
        if status.blocked_by:
            self.notify(
                f"{status.step.title} comes after: {', '.join(status.blocked_by)}",
                title="Not yet",
                severity="warning",
            )
            return
        self.post_message(self.StepChosen(status.step))

    def action_verify(self) -> None:
        """Run the highlighted step's checks."""
        status = self.highlighted()
        if status is not None:
            self.post_message(self.VerifyChosen(status.step))
