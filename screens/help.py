"""The help dialog (? or F1): the current step's help and the keys of the screen under it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Label, Markdown, Static

from wizard.steps import Step

if TYPE_CHECKING:
    from textual.app import App

# Keys of the whole app, said once at the end of every help.
APP_KEYS = (
    ("tab, shift+tab", "the next or previous field, list or button"),
    ("↑ ↓ pgup pgdn", "move in a list, scroll a text"),
    ("? or F1", "this help (F1 inside a form, where ? is typed)"),
    (
        "ctrl+p",
        "command palette: go to a step, review everything, verify all, the last apply's log",
    ),
    ("q", "quit, from any screen without a text field"),
    ("ctrl+q", "quit from anywhere, a form included"),
)


def screen_step(screen: Screen[Any]) -> Step | None:
    """The step a screen is about: its own, its plan's, or the overview's highlighted one."""
    step = getattr(screen, "step", None)
    if isinstance(step, Step):
        return step
    plan = getattr(screen, "plan", None)
    if plan is not None and isinstance(getattr(plan, "step", None), Step):
        return plan.step
    highlighted = getattr(screen, "highlighted", None)
    if callable(highlighted):
        status = highlighted()
        if status is not None and isinstance(getattr(status, "step", None), Step):
            return status.step
    return None


def screen_keys(app: App[Any], screen: Screen[Any]) -> list[tuple[str, str]]:
    """The keys the screen answers to now, as its footer names them."""
    keys: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        # The screen's own keys, as its footer shows them (moving around is said once below).
        if not binding.show or not binding.description or binding.system or not active.enabled:
            continue
        if binding.description in seen:
            continue
        seen.add(binding.description)
        keys.append((app.get_key_display(binding) or key, binding.description))
    return keys


def keys_text(keys: list[tuple[str, str]]) -> Text:
    """Key and what it does, one a line."""
    text = Text()
    width = max((len(key) for key, _ in keys), default=0)
    for key, description in keys:
        text.append(f"{key:>{width}}  ", style="bold")
        text.append(f"{description}\n")
    return text


class HelpModal(ModalScreen[None]):
    """Help for the screen under it: the step's own help, then every key it answers to."""

    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark", "close", "Close"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, step: Step | None, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.step = step
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Help", id="title")
            # Keys first: short, and what a small terminal must show; the step's help scrolls.
            with VerticalScroll(id="body"):
                yield Static("Keys of this screen", classes="heading")
                yield Static(keys_text(self.keys), id="keys")
                yield Static("Keys everywhere", classes="heading")
                yield Static(keys_text(list(APP_KEYS)), id="app-keys")
                if self.step is not None:
                    yield Static(self.step.title, id="step-title", markup=False)
                    yield Markdown(self.step.help, id="step-help")
            with Horizontal(id="buttons"):
                yield Button("Close", id="close", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
