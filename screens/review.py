"""A step's plan, file by file: what changes, approved or skipped, and what else will run."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Static

from screens.skipped import SkipConfirmModal, skipped_files
from screens.text import shown
from screens.widgets.diff_view import DiffView
from wizard.visible import visible

if TYPE_CHECKING:
    # Types only: this screen's module loads with the app, before the first screen is drawn;
    # the engine loads with the connection (tests/tui/test_startup_budget.py).
    from wizard.plan import FileChange, Plan

COMMANDS_ROW = "::commands"
"""The table's last row, for the packages, services and commands (no file path starts so)."""

BADGES: dict[str, tuple[str, str]] = {
    "create": ("NEW", "bold green"),
    "update": ("CHANGED", "bold yellow"),
    "attributes": ("MODE", "bold cyan"),
    "unchanged": ("SAME", "dim"),
}


def badge(change: FileChange) -> Text:
    """The file's status as a short coloured word."""
    word, style = BADGES.get(change.status, (change.status.upper(), ""))
    return Text(word, style=style)


def approval(change: FileChange) -> Text:
    """Whether the file will be written: apply, skip, or nothing to write."""
    if change.status == "unchanged":
        return Text("—", style="dim")
    return Text("apply", style="green") if change.approved else Text("skip", style="bold red")


def commands_text(plan: Plan) -> Group:
    """Everything besides files that the apply will do, in the order it happens."""
    lines: list[Text] = []
    if plan.missing_packages:
        lines.append(shown("Packages to install: " + " ".join(plan.missing_packages), "bold"))
    else:
        lines.append(Text("Packages: nothing to install", "dim"))
    if plan.services_to_enable:
        lines.append(shown("Services to enable: " + " ".join(plan.services_to_enable), "bold"))
    handlers = plan.handlers()
    if handlers:
        lines.append(
            shown(
                "After the files change: "
                + ", ".join(f"{action} {service}" for service, action in handlers.items()),
                "bold",
            )
        )
    lines.append(Text(""))
    if not plan.commands:
        lines.append(Text("Commands: none", "dim"))
    else:
        lines.append(Text("Commands:", "bold"))
    for change in plan.commands:
        line = Text()
        if change.will_run:
            line.append("▶ runs    ", style="yellow")
        else:
            line.append("✓ skipped ", style="dim")
        line.append(f"({change.command.stage}) ", style="dim")
        line.append_text(shown(change.run, style="" if change.will_run else "dim"))
        lines.append(line)
    return Group(*lines)


class ReviewScreen(Screen[None]):
    """The plan's files with their diffs; each file approved or skipped; Apply."""

    CSS_PATH = "review.tcss"
    # A tall terminal shows more rows of the list (see the .tcss).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_approval", "Approve/skip"),
        Binding("s", "toggle_view", "Side by side"),
        Binding("A", "apply", "Apply"),
        Binding("escape", "back", "Back"),
    ]

    class ApplyChosen(Message):
        """Apply this plan, with the files as approved."""

        def __init__(self, plan: Plan) -> None:
            super().__init__()
            self.plan = plan

    def __init__(self, plan: Plan, reason: str = "") -> None:
        super().__init__()
        self.plan = plan
        self.reason = reason

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="summary", markup=False)
        yield DataTable(id="files", cursor_type="row")
        yield DiffView(self.plan.answers.secret_values(), id="diff")
        with Horizontal(id="actions"):
            yield Static("", id="approved", markup=False)
            yield Button("Back", id="back", compact=True)
            yield Button("Apply", id="apply", variant="warning", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.plan.step.id}: review"
        table = self.query_one("#files", DataTable)
        table.add_column("Change", key="badge", width=7)
        table.add_column("File", key="dest")
        table.add_column("Write", key="approval", width=5)
        for change in self.plan.files:
            table.add_row(badge(change), shown(change.dest), approval(change), key=change.dest)
        table.add_row(
            Text("", style="dim"),
            Text("packages, services and commands", style="italic"),
            Text(""),
            key=COMMANDS_ROW,
        )
        table.focus()
        self._update_summary()
        self._show_highlighted()

    def highlighted(self) -> FileChange | None:
        """The file under the cursor, or None on the commands row."""
        table = self.query_one("#files", DataTable)
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((f for f in self.plan.files if f.dest == key), None)

    @on(DataTable.RowHighlighted, "#files")
    def _show_highlighted(self) -> None:
        change = self.highlighted()
        view = self.query_one("#diff", DiffView)
        if change is None:
            view.show_text(commands_text(self.plan))
        else:
            view.show_change(change)

    def _update_summary(self) -> None:
        summary = self.plan.summary()
        self.query_one("#summary", Static).update(
            shown(f"{self.reason}. {summary}" if self.reason else summary)
        )
        changing = [f for f in self.plan.files if f.status != "unchanged"]
        written = [f for f in changing if f.approved]
        approved = f"{len(written)} of {len(changing)} changed file(s) approved"
        if len(written) < len(changing):
            approved += ": skipped ones are not written, the rest of the step runs"
        self.query_one("#approved", Static).update(approved)
        self.query_one("#apply", Button).disabled = not self.plan.has_changes

    def action_toggle_approval(self) -> None:
        """Approve or skip the highlighted file (Plan.with_approval)."""
        change = self.highlighted()
        if change is None:
            self.notify("Packages and commands are part of the step: they cannot be skipped.")
            return
        if change.status == "unchanged":
            self.notify(
                f"{visible(change.dest)} is already as wanted: nothing to skip.", markup=False
            )
            return
        self.plan = self.plan.with_approval(change.dest, not change.approved)
        updated = next(f for f in self.plan.files if f.dest == change.dest)
        table = self.query_one("#files", DataTable)
        table.update_cell(change.dest, "approval", approval(updated))
        self._update_summary()

    def action_toggle_view(self) -> None:
        """Switch the diff between unified and side by side."""
        view = self.query_one("#diff", DiffView)
        view.side_by_side = not view.side_by_side

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        """Apply the plan as approved."""
        if not self.plan.has_changes:
            self.notify("Nothing to change: every file is skipped or already as wanted.")
            return
        if skipped_files(self.plan):
            self.app.push_screen(SkipConfirmModal(self.plan), self._skip_answered)
            return
        self.post_message(self.ApplyChosen(self.plan))

    def _skip_answered(self, apply: bool | None) -> None:
        if apply:
            self.post_message(self.ApplyChosen(self.plan))

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the questions; from a follow-up, on to what was waiting (it stays outdated)."""
        self.dismiss()
