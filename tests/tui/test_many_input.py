"""A list or table question's field shows its answer as the text the engine reads back, never
Python's repr, and refuses a bad item or cell with the engine's reason."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Input, Switch

from screens.questions import QuestionsScreen, answer_check
from screens.widgets.form_field import FormField
from screens.widgets.many_input import many_input
from wizard.answers import answer_as_text, parse_answer, validate_answers
from wizard.catalog import load_catalog
from wizard.steps import Question

STEPS = Path(__file__).resolve().parents[1] / "host" / "steps"

OPERATORS = Question("operators", "list", "Operators", item="username")
COMMANDS = Question(
    "commands",
    "table",
    "Commands",
    columns=(
        Question("name", "text", "Alias", pattern="[A-Z]+", pattern_help="capitals"),
        Question("path", "path", "Program"),
        Question("args", "text", "Arguments", required=False),
    ),
)


class Form(App[None]):
    def __init__(self, question: Question, default: object) -> None:
        super().__init__()
        self.question, self.default = question, default

    def compose(self) -> ComposeResult:
        control = many_input(self.question, self.default, "q")
        yield FormField("q", "Q", control, "", answer_check(self.question))


async def test_a_table_answer_is_shown_as_rows_of_cells_and_read_back():
    rows = parse_answer(COMMANDS, [{"name": "JOURNAL", "path": "/usr/bin/journalctl"}])
    app = Form(COMMANDS, rows)
    async with app.run_test(size=(80, 10)) as pilot:
        field = app.query_one(FormField)
        control = app.query_one(Input)
        assert control.value == "JOURNAL, /usr/bin/journalctl, "
        assert control.placeholder == "name, path, args; name, path, args; …"
        assert field.valid and parse_answer(COMMANDS, field.value) == rows
        control.value = "journal, /usr/bin/journalctl"
        await pilot.pause()
        assert field.error == "row 1, name: 'journal': expected capitals"


async def test_a_list_answer_is_shown_as_its_items():
    app = Form(OPERATORS, ("alice", "bob"))
    async with app.run_test(size=(80, 10)) as pilot:
        field = app.query_one(FormField)
        assert app.query_one(Input).value == "alice, bob"
        app.query_one(Input).value = "alice, Root"
        await pilot.pause()
        assert field.error.startswith("item 2 (Root): ")


class Questions(App[None]):
    def __init__(self, screen: QuestionsScreen) -> None:
        super().__init__()
        self.form = screen

    def on_mount(self) -> None:
        self.push_screen(self.form)


async def test_the_data_only_steps_form_shows_text_hides_the_unasked_and_gives_valid_answers():
    """The test-only step's form, prefilled as the engine prefills it (session.default_answers
    writes a list or table given before as answer_as_text)."""
    step = load_catalog([STEPS]).get("data-only")
    given = {
        "operators": ["alice", "bob"],
        "commands": [{"name": "JOURNAL", "path": "/usr/bin/journalctl", "args": ""}],
    }
    defaults = {name: answer_as_text(step.question(name), value) for name, value in given.items()}
    app = Questions(QuestionsScreen(step, {**defaults, "timeout": 5, "log": "false"}))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        form = app.form
        assert form.field("operators").query_one(Input).value == "alice, bob"
        assert form.field("commands").query_one(Input).value == "JOURNAL, /usr/bin/journalctl, "
        # The form's own fields say how to type a list and a table.
        assert form.field("commands").query_one(Input).placeholder.startswith("name, path")
        assert form.field("operators").query_one(Input).placeholder.endswith(", …")
        assert not form.field("log_file").display  # asked only when log is on
        answers = validate_answers(step, form.raw_answers)
        assert answers.values["operators"] == ("alice", "bob")
        assert answers.values["commands"] == (
            {"name": "JOURNAL", "path": "/usr/bin/journalctl", "args": ""},
        )
        form.field("log").query_one(Switch).value = True
        await pilot.pause()
        assert form.field("log_file").display
