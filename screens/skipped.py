"""What skipping files means, said before an apply that skips some, and after it in the checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType

from screens.confirm import ConfirmModal

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


class SkipConfirmModal(ConfirmModal):
    """Asks before an apply that skips files; dismisses True to apply, False to go back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Back to the review"),
        Binding("y", "answer(True)", "Apply anyway"),
    ]

    def __init__(self, plan: Plan) -> None:
        super().__init__(
            f"Apply {plan.step.id} with {len(skipped_files(plan))} file(s) skipped?",
            skip_meaning(plan),
            "Apply anyway",
            "Back to the review",
        )
