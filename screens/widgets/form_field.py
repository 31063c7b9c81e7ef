"""One field of a form: its label, its control, help under it, and why its value is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch

from screens.text import shown

Check = Callable[[Any], str]
"""Returns why a raw value is refused, or "" when it is accepted."""


class FormField(Vertical):
    """A labelled Input, Switch or Select that checks its value on every change.

    The reason a value is refused shows in red under the field; the form reads `valid` to
    decide whether its Next button may be pressed.
    """

    DEFAULT_CSS = """
    FormField {
        height: auto;
        margin-bottom: 1;
    }
    FormField > .prompt {
        text-style: bold;
    }
    FormField > .help {
        color: $text-muted;
    }
    FormField > .reason {
        color: $error;
        display: none;
    }
    FormField.-invalid > .reason {
        display: block;
    }
    FormField.-invalid > Input {
        background: $error 15%;
    }
    FormField .switch-row {
        height: 1;
    }
    FormField Switch, FormField Switch:focus {
        border: none;
        height: 1;
        padding: 0 1;
    }
    FormField Switch:focus {
        background-tint: $foreground 15%;
    }
    FormField .switch-state {
        width: auto;
        padding-left: 1;
    }
    """

    error: reactive[str] = reactive("", init=False)
    """Why the current value is refused; empty when it is accepted."""

    class Changed(Message):
        """The field's value changed and was checked."""

        def __init__(self, field: FormField) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> FormField:
            """The field, so that `@on(FormField.Changed, "#id")` selectors work."""
            return self.field

    def __init__(
        self, key: str, prompt: str, control: Widget, help_text: str, check: Check
    ) -> None:
        super().__init__(id=f"field-{key}")
        self.key = key
        self.prompt = prompt
        self.control_widget = control
        self.help_text = help_text
        self.check = check
        # Held, not queried: a control posts Changed as it mounts, and under load the field may
        # handle it before these siblings of the control are mounted.
        self.reason_label = Static("", classes="reason", markup=False)
        self.switch_state = Static("", classes="switch-state")

    def compose(self) -> ComposeResult:
        yield Label(self.prompt, classes="prompt", markup=False)
        if isinstance(self.control_widget, Switch):
            # The slider's colour alone does not say yes or no on every terminal.
            with Horizontal(classes="switch-row"):
                yield self.control_widget
                yield self.switch_state
        else:
            yield self.control_widget
        if self.help_text:
            yield Static(self.help_text, classes="help", markup=False)
        yield self.reason_label

    def on_mount(self) -> None:
        self.validate()

    @property
    def value(self) -> Any:
        """The raw value as the engine's parsers take it: text, a bool, or the chosen option."""
        control = self.control_widget
        if isinstance(control, Switch):
            return control.value
        if isinstance(control, Select):
            return "" if control.value is Select.NULL else control.value
        if isinstance(control, Input):
            return control.value
        raise TypeError(f"a form field cannot hold a {type(control).__name__}")

    @property
    def valid(self) -> bool:
        """True when the value is accepted."""
        return not self.error

    def validate(self) -> bool:
        """Check the value now; shows the reason when it is refused."""
        self.error = self.check(self.value)
        if isinstance(self.control_widget, Switch):
            self.switch_state.update("yes" if self.value else "no")
        self.post_message(self.Changed(self))
        return self.valid

    def refuse(self, reason: str) -> None:
        """Show a reason found elsewhere (the engine's whole-form rules) until the next edit."""
        self.error = reason
        self.post_message(self.Changed(self))

    def watch_error(self, error: str) -> None:
        self.set_class(bool(error), "-invalid")
        self.reason_label.update(shown(error))

    @on(Input.Changed)
    @on(Switch.Changed)
    @on(Select.Changed)
    def _control_changed(self, event: Message) -> None:
        # The control's own message stops here: the form listens to FormField.Changed.
        event.stop()
        self.validate()
