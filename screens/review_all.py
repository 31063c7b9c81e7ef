"""Review everything: the steps not applied yet, planned as one run before anything changes
(wizard.preview), each held to what this screen showed when its turn comes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, Static

from screens.review import badge, commands_text
from screens.text import shown
from screens.widgets.diff_view import DiffView

if TYPE_CHECKING:
    # Types only: this screen's module loads with the app, before the first screen is drawn;
    # the engine loads with the connection (tests/tui/test_startup_budget.py).
    from wizard.preview import PlannedStep
    from wizard.steps import Step


@dataclass(frozen=True)
class Refused:
    """A step of the run whose answers the engine refused, and why."""

    step: Step
    message: str


@dataclass(frozen=True)
class RunPlan:
    """A previewed run: the planned steps, the answers each was planned with, the steps
    whose answers were refused (the run goes as far as the first of them) and the others
    left out after it."""

    planned: tuple[PlannedStep, ...]
    answers: dict[str, dict[str, Any]]
    refused: tuple[Refused, ...] = ()
    left_out: tuple[str, ...] = ()

    def key(self, item: PlannedStep) -> tuple[str, str]:
        """How a planned step is found again when its turn comes: its id and, for a
        follow-up, the step that made it outdated."""
        return (item.plan.step.id, item.cause)

    @property
    def steps(self) -> list[str]:
        """The steps the run applies in order (the follow-ups come with their cause)."""
        return list(dict.fromkeys(i.plan.step.id for i in self.planned if not i.reason))


def row_key(index: int, dest: str = "") -> str:
    return f"{index}:{dest}"


def step_notes(item: PlannedStep) -> Group:
    """Why a follow-up is there, what it is planned after, then its packages and commands."""
    lines: list[Text] = [shown(item.plan.summary(), "bold")]
    if item.reason:
        lines.append(shown(f"Follow-up: {item.reason}", "yellow"))
    if item.after and item.plan.has_changes:
        lines.append(
            shown(
                f"Planned as {', '.join(item.after)} would leave the server: their files, "
                "packages and services.",
                "dim",
            )
        )
    if item.guards_read_now:
        lines.append(
            shown(
                "Whether each command runs is decided on the server when the step is applied, "
                f"after {', '.join(item.after)}; shown as the server is now.",
                "dim",
            )
        )
    lines.append(Text(""))
    return Group(*lines, commands_text(item.plan))


class ReviewAllScreen(Screen[None]):
    """Every planned step of the run with its files; the highlighted one's diff; Apply all."""

    CSS_PATH = "review_all.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("A", "apply_all", "Apply all"),
        Binding("o", "open_step", "Open step's questions"),
        Binding("s", "toggle_view", "Side by side"),
        Binding("escape", "back", "Back"),
    ]

    class ApplyAllChosen(Message):
        """Apply the run, asking before each step."""

        def __init__(self, run: RunPlan) -> None:
            super().__init__()
            self.run = run

    class OpenStep(Message):
        """Open this step's questions (its answers were refused)."""

        def __init__(self, step: Step) -> None:
            super().__init__()
            self.step = step

    def __init__(self, run: RunPlan) -> None:
        super().__init__()
        self.run = run
        self.rows: dict[str, tuple[PlannedStep | None, Any]] = {}

    def compose(self) -> ComposeResult:
        secrets = [s for item in self.run.planned for s in item.plan.answers.secret_values()]
        yield Header()
        yield Static("", id="summary", markup=False)
        yield DataTable(id="steps", cursor_type="row")
        yield DiffView(secrets, id="diff")
        with Horizontal(id="actions"):
            yield Static("", id="status", markup=False)
            yield Button("Back", id="back", compact=True)
            yield Button("Apply all", id="apply-all", variant="warning", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "review everything"
        table = self.query_one("#steps", DataTable)
        table.add_column("Step", key="step", width=18)
        table.add_column("Change", key="badge", width=7)
        table.add_column("What", key="what")
        for index, item in enumerate(self.run.planned):
            plan = item.plan
            what = (
                shown(f"follow-up: {item.reason}", "yellow")
                if item.reason
                else Text(plan.step.title)
            )
            changes = Text("changes", "bold yellow") if plan.has_changes else Text("none", "dim")
            self.rows[row_key(index)] = (item, None)
            table.add_row(Text(plan.step.id, style="bold"), changes, what, key=row_key(index))
            for change in plan.changed_files:
                key = row_key(index, change.dest)
                self.rows[key] = (item, change)
                table.add_row(Text(""), badge(change), shown(change.dest), key=key)
        # Then, in the catalog's order, the steps the run does not reach.
        refused = {r.step.id: r for r in self.run.refused}
        for step_id in self.run.answers:
            if step_id in refused:
                key = row_key(-1, step_id)
                self.rows[key] = (None, refused[step_id])
                table.add_row(
                    Text(step_id, style="bold red"),
                    Text("REFUSED", style="bold red"),
                    shown(refused[step_id].message),
                    key=key,
                )
            elif step_id in self.run.left_out:
                table.add_row(
                    Text(step_id, style="dim"),
                    Text("LATER", style="dim"),
                    Text("after a refused step: not planned", style="dim italic"),
                    key=row_key(-2, step_id),
                )
        self._summary()
        table.focus()
        self._show_highlighted()

    def _summary(self) -> None:
        summary = self.query_one("#summary", Static)
        button = self.query_one("#apply-all", Button)
        status = self.query_one("#status", Static)
        changing = [i.plan.step.id for i in self.run.planned if i.plan.has_changes]
        if self.run.refused:
            names = ", ".join(r.step.id for r in self.run.refused)
            summary.update(
                shown(
                    f"The answers of {names} were refused: the run stops before "
                    f"{self.run.refused[0].step.id}. {len(self.run.steps)} step(s) planned.",
                    "bold red",
                )
            )
            status.update("o on a refused step opens its questions")
        elif not self.run.planned:
            summary.update("Every step is applied: nothing to review.")
        else:
            summary.update(
                shown(
                    f"{len(self.run.steps)} step(s) planned in order, nothing changed yet; "
                    f"{len(changing)} would change the server."
                )
            )
            status.update("Apply all asks before each step")
        button.disabled = not self.run.planned

    def highlighted(self) -> tuple[PlannedStep | None, Any]:
        table = self.query_one("#steps", DataTable)
        if table.row_count == 0:
            return (None, None)
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key), (None, None))

    @on(DataTable.RowHighlighted, "#steps")
    def _show_highlighted(self) -> None:
        item, detail = self.highlighted()
        view = self.query_one("#diff", DiffView)
        if isinstance(detail, Refused):
            view.show_text(
                Group(
                    shown(f"{detail.step.id}: its answers were refused", "bold red"),
                    shown(detail.message),
                    Text("Press o to open its questions.", "italic"),
                )
            )
        elif item is None:
            view.show_text(Text(""))
        elif detail is None:
            view.show_text(step_notes(item))
        else:
            view.show_change(detail)

    def action_toggle_view(self) -> None:
        """Switch the diff between unified and side by side."""
        view = self.query_one("#diff", DiffView)
        view.side_by_side = not view.side_by_side

    def action_open_step(self) -> None:
        """Open the highlighted step's questions (to correct refused answers)."""
        item, detail = self.highlighted()
        if isinstance(detail, Refused):
            self.post_message(self.OpenStep(detail.step))
        elif item is not None:
            self.post_message(self.OpenStep(item.plan.step))

    @on(Button.Pressed, "#apply-all")
    def action_apply_all(self) -> None:
        """Apply the run in order, confirming each step."""
        if not self.run.planned:
            self.notify(
                "Nothing to apply"
                + (": open the refused step's questions (o) first." if self.run.refused else "."),
                severity="warning",
            )
            return
        self.post_message(self.ApplyAllChosen(self.run))

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the overview; nothing was changed."""
        self.dismiss()


class ConfirmStepModal(ModalScreen[str]):
    """Before each step of the run: apply it (y), leave it for later (n), or stop the run."""

    CSS_PATH = "review_all.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('yes')", "Apply it"),
        Binding("n", "answer('no')", "Not this one"),
        Binding("escape,s", "answer('stop')", "Stop the run"),
    ]

    def __init__(self, item: PlannedStep, position: str, installs: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.item = item
        self.position = position
        # The whole run's packages, installed in one go before this step (wizard.workflow).
        self.installs = installs

    def compose(self) -> ComposeResult:
        step = self.item.plan.step
        with Vertical(id="dialog"):
            yield Label(f"Apply {step.id}? ({self.position})", id="title")
            yield Static(shown(self.item.plan.summary()), id="meaning")
            if self.installs:
                yield Static(shown("Installs, for the whole run: " + " ".join(self.installs)))
            yield Static(
                "It is planned again first and refused if it would now differ from the "
                "reviewed plan.",
                id="note",
            )
            with Horizontal(id="buttons"):
                yield Button("Apply (y)", id="yes", variant="warning", compact=True)
                yield Button("Not this one (n)", id="no", compact=True)
                yield Button("Stop (s)", id="stop", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stop", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "stop")

    def action_answer(self, answer: str) -> None:
        """Dismiss with the user's choice."""
        self.dismiss(answer)
