"""A step's questions as a form: one checked field per question, prefilled, help under each."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Input, Select, Static, Switch

from screens.messages import WorkFailed
from screens.widgets.form_field import Check, FormField
from screens.widgets.many_input import MANY_TYPES, many_input
from wizard.answers import answer_as_text, asked, parse_answer, parse_bool
from wizard.errors import AnswerError, WizardError
from wizard.steps import Question, Step


def answer_check(question: Question) -> Check:
    """The engine's own parser as the field's check, so the form refuses what the engine would."""

    def check(raw: Any) -> str:
        try:
            parse_answer(question, raw)
        except AnswerError as error:
            return error.message
        return ""

    return check


def control_for(question: Question, default: Any) -> Widget:
    """The widget that fits the question's type: Switch for yes/no, Select for choices."""
    widget_id = f"q-{question.name}"
    if question.type == "bool":
        try:
            on_ = parse_bool(default)
        except AnswerError:
            on_ = False
        return Switch(on_, id=widget_id)
    if question.type == "choice":
        options = [(choice, choice) for choice in question.choices]
        if default in question.choices:
            return Select(options, value=default, allow_blank=False, id=widget_id, compact=True)
        # A stale or missing default: start blank and let the check say what to choose.
        return Select(options, id=widget_id, compact=True)
    if question.type in MANY_TYPES:
        return many_input(question, default, widget_id)
    return Input(
        answer_as_text(question, default),
        password=question.secret or question.type == "secret",
        id=widget_id,
        compact=True,
    )


def question_field(question: Question, default: Any) -> FormField:
    """A form field for one question."""
    return FormField(
        question.name,
        question.prompt,
        control_for(question, default),
        question.help,
        answer_check(question),
    )


class QuestionsScreen(Screen[None]):
    """The form of one step; Next posts the raw answers, refused ones keep Next disabled."""

    CSS_PATH = "questions.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
    ]

    class Edited(Message):
        """Answers typed that differ from the prefilled ones (secrets left out), to keep
        until the step is applied: a quit or Back does not lose them."""

        def __init__(self, step: Step, changed: dict[str, Any]) -> None:
            super().__init__()
            self.step = step
            self.changed = changed

    class Submitted(Message):
        """The user's raw answers for the step, all accepted by their fields."""

        def __init__(self, step: Step, raw: dict[str, Any]) -> None:
            super().__init__()
            self.step = step
            self.raw = raw

    def __init__(
        self, step: Step, defaults: dict[str, Any], draft: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.step = step
        self.defaults = defaults
        # Typed before and not applied yet: shown instead of the defaults.
        self.draft = dict(draft or {})

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.step.title, id="step-title", markup=False)
        with VerticalScroll(id="form"):
            for question in self.step.questions:
                default = self.defaults.get(question.name, "")
                yield question_field(question, self.draft.get(question.name, default))
        with Horizontal(id="actions"):
            yield Static("", id="status", markup=False)
            yield Button("Back", id="back", compact=True)
            yield Button("Next", id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.step.id}: questions"
        self._show_asked()
        fields = self.shown_fields
        if fields:
            fields[0].control_widget.focus()

    @property
    def fields(self) -> list[FormField]:
        """One field per question, in the step's order."""
        return list(self.query(FormField))

    @property
    def shown_fields(self) -> list[FormField]:
        """The fields of the questions asked: a question whose `when` fails is hidden, and
        the engine does not check its answer."""
        return [f for f in self.fields if f.display]

    def _show_asked(self) -> None:
        typed: dict[str, Any] = {}
        for field in self.fields:
            question = self.step.question(field.key)
            try:
                field.display = asked(self.step, question, typed)
            except WizardError:
                field.display = True  # a broken `when` is the step's bug: ask
            typed[field.key] = field.value

    def field(self, name: str) -> FormField:
        """The field of the question called `name`."""
        return self.query_one(f"#field-{name}", FormField)

    @property
    def raw_answers(self) -> dict[str, Any]:
        """The answers as typed, for Session.plan."""
        return {f.key: f.value for f in self.fields}

    @on(FormField.Changed)
    def _field_changed(self) -> None:
        self._show_asked()
        self._update_next()
        secret = {q.name for q in self.step.questions if q.secret or q.type == "secret"}
        changed = {
            f.key: f.value
            for f in self.fields
            if f.key not in secret and f.value != self._prefilled(f.key)
        }
        if changed != self.draft:
            self.draft = changed
            self.post_message(self.Edited(self.step, changed))

    def _prefilled(self, name: str) -> Any:
        """The value the field shows when nothing was typed, as `control_for` renders it."""
        question = next(q for q in self.step.questions if q.name == name)
        default = self.defaults.get(name, "")
        if question.type == "bool":
            try:
                return parse_bool(default)
            except AnswerError:
                return False
        if question.type == "choice":
            return default if default in question.choices else ""
        return answer_as_text(question, default)

    def _update_next(self) -> None:
        refused = [f for f in self.shown_fields if not f.valid]
        busy = self.has_class("-busy")
        self.query_one("#next", Button).disabled = busy or bool(refused)
        status = self.query_one("#status", Static)
        if busy:
            status.update("computing the plan…")
        elif refused:
            status.update(f"{len(refused)} answer(s) to fix")
        else:
            status.update("")

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        # Enter moves to the next field, as Tab does; Next stays a deliberate press.
        self.focus_next()

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        """Post the answers when every field accepts its value."""
        if self.has_class("-busy") or not all(f.validate() for f in self.shown_fields):
            return
        self.set_busy(True)
        self.post_message(self.Submitted(self.step, self.raw_answers))

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the overview; typed answers are kept until the step is applied."""
        if not self.has_class("-busy"):
            self.dismiss()

    def set_busy(self, busy: bool) -> None:
        """Lock the form while the plan is computed."""
        self.set_class(busy, "-busy")
        self.query_one("#form").disabled = busy
        self._update_next()

    def refuse(self, error: AnswerError) -> bool:
        """Show the engine's refusal at its field; False when it names no field of this form."""
        self.set_busy(False)
        name, sep, reason = error.message.partition(": ")
        step_id, _, question = name.partition(".")
        if not sep or step_id != self.step.id:
            return False
        try:
            field = self.field(question)
        except NoMatches:
            return False
        field.refuse(reason + (f" ({error.hint})" if error.hint else ""))
        field.control_widget.focus()
        return True

    @on(WorkFailed)
    def _work_failed(self, event: WorkFailed) -> None:
        if event.group == "session":
            self.set_busy(False)
