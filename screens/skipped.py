"""What skipping files means, said before an apply that skips some, and after it in the checks."""

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
    # Types only: this screen's module loads with the app, before the first screen is drawn;
    # the engine loads with the connection (tests/tui/test_startup_budget.py).
    from wizard.plan import Plan


def skipped_files(plan: Plan) -> tuple[str, ...]:
    """The files of the plan that differ from the server and will not be written."""
    return tuple(f.dest for f in plan.files if not f.approved and f.status != "unchanged")


def still_done(plan: Plan) -> list[str]:
    """What the apply does all the same: packages, services, reloads and commands."""
    done = []
    if plan.missing_packages:
        done.append("installs " + ", ".join(plan.missing_packages))
    if plan.services_to_enable:
        done.append("enables and starts " + ", ".join(plan.services_to_enable))
    handlers = plan.handlers()
    if handlers:
        done.append(
            "then " + ", ".join(f"{action} {service}" for service, action in handlers.items())
        )
    running = [c for c in plan.commands if c.will_run]
    if running:
        done.append(f"runs {len(running)} command(s)")
    return done


def skip_meaning(plan: Plan) -> str:
    """One paragraph: which files stay as they are, what runs anyway, what the checks judge."""
    skipped = skipped_files(plan)
    done = still_done(plan)
    text = (
        f"Skipped, not written: {', '.join(skipped)}. The server keeps its own version "
        "(or none, for a new file)."
    )
    if done:
        text += f" The step still {'; '.join(done)}, without the skipped file(s)."
    text += (
        " Its checks then judge the server as it is: a check that fails may be failing "
        "because of a skipped file."
    )
    return text


def skip_hint(step_id: str, skipped: tuple[str, ...]) -> str:
    """The line added to a check's hint when its step's last apply skipped files."""
    return (
        f"the last apply of {step_id} skipped {', '.join(skipped)}: review the step again "
        "and approve it to have it written"
    )


class SkipConfirmModal(ModalScreen[bool]):
    """Asks before an apply that skips files; dismisses True to apply, False to go back."""

    CSS_PATH = "skipped.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Back to the review"),
        Binding("y", "answer(True)", "Apply anyway"),
    ]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        count = len(skipped_files(self.plan))
        with Vertical(id="dialog"):
            yield Label(f"Apply {self.plan.step.id} with {count} file(s) skipped?", id="title")
            yield Static(shown(skip_meaning(self.plan)), id="meaning")
            with Horizontal(id="buttons"):
                yield Button("Apply anyway", id="yes", variant="warning", compact=True)
                yield Button("Back to the review", id="no", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, apply: bool) -> None:
        """Dismiss with the user's choice."""
        self.dismiss(apply)
