"""The schema of step.toml, declared once as data, and the check of a step file against it.

Every table a step.toml may hold is a `Section` of `Field`s (name, type, allowed values,
required or not, what it means). A step file is checked against it when the catalog loads, the
shipped steps and the user's alike: an unknown field or value is refused with the file, the
line and what was expected ("did you mean ..." for a typo), every problem of the file at once.
The checked data then fills the frozen dataclasses of wizard/steps.py. docs/steps.md is
generated from the same data: `python -m wizard.stepschema --markdown > docs/steps.md`.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import sys
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.answers import ITEM_TYPES, PARSERS, QUESTION_PARSERS, QUESTION_TYPES
from wizard.checks.manifest import MANIFEST, CheckDecl
from wizard.errors import WizardError
from wizard.steps import (
    CheckSpec,
    Command,
    CommandStage,
    ConditionalPackages,
    FileSpec,
    NamedValidator,
    Question,
    Refusal,
    Reveal,
    Role,
    ServiceAction,
    Step,
)
from wizard.validators import NAMES as VALIDATOR_NAMES
from wizard.validators import VALIDATORS

GUARDS: tuple[str, ...] = ("lockout",)


class Kind(enum.Enum):
    """The TOML shape of a field's value, worded as the reference page says it."""

    TEXT = "text"
    INTEGER = "integer"
    BOOL = "bool"
    TEXT_LIST = "list of text"
    TABLES = "list of tables"
    TABLE = "table"
    # A table of name = value pairs whose names are free (services) and values are checked.
    MAP = "table of name = value"
    # A table of parameter names, checked against the check's declared parameters.
    PARAMS = "table of parameters"


class Format(enum.Enum):
    """A check of a text value beyond its type."""

    OCTAL_MODE = 'an octal file mode like "0644"'
    REGEX = "a regular expression"
    # Step ids name folders, state entries and command arguments.
    STEP_ID = "lower-case letters, digits and hyphens, like mail-auth"
    # Answer names are read as answers.NAME in Jinja: an identifier.
    NAME = "lower-case letters, digits and underscores, like extra_ports"


@dataclass(frozen=True)
class Field:
    """One key a table of step.toml may hold.

    `attr` is the dataclass field it fills ("" for the same name, None when nothing is stored
    under it); `for_types` limits a question's field to questions of those types.
    """

    name: str
    kinds: tuple[Kind, ...]
    description: str
    required: bool = False
    values: tuple[str, ...] = ()
    section: Section | None = None
    attr: str | None = ""
    for_types: tuple[str, ...] = ()
    format: Format | None = None
    # Text that may span lines (""" ... """); its surrounding blank lines are dropped.
    strip: bool = False
    # Where a (TEXT, TABLE) field's table form goes: that attribute holds the section's
    # dataclass; without one, the table's fields fill the parent's own attributes.
    table_attr: str | None = None

    @property
    def target_attr(self) -> str | None:
        """The dataclass field this key fills."""
        return self.name if self.attr == "" else self.attr


@dataclass(frozen=True)
class Section:
    """A table of step.toml: its fields, and the dataclass its checked values fill."""

    title: str
    description: str
    fields: tuple[Field, ...]
    target: type | None = None

    def field(self, name: str) -> Field | None:
        """The field called `name`, None when the section has none."""
        return next((field for field in self.fields if field.name == name), None)


def _f(name: str, kind: Kind | tuple[Kind, ...], description: str, **more: Any) -> Field:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return Field(name, kinds, description, **more)


TEXT, INTEGER, BOOL, TEXT_LIST, TABLES, TABLE, MAP, PARAMS = Kind
_WHEN = "a Jinja expression over the answers: when it is false, this entry is skipped"

# Fields a question and a table's column share: the typed value and its limits.
_VALUE_FIELDS = (
    _f(
        "type",
        TEXT,
        "the answer's type: one of the question types below",
        required=True,
        values=QUESTION_TYPES,
    ),
    _f("help", TEXT, "a longer explanation shown under the question", strip=True),
    _f("required", BOOL, "whether an answer is needed"),
    _f(
        "choices",
        TEXT_LIST,
        "the answers a choice question accepts",
        for_types=("choice",),
    ),
    _f(
        "choices_from",
        TEXT,
        "a Jinja expression over the facts giving the choices (instead of `choices`)",
        for_types=("choice",),
    ),
    _f("min", INTEGER, "the smallest integer accepted", for_types=("integer",)),
    _f("max", INTEGER, "the largest integer accepted", for_types=("integer",)),
    _f(
        "pattern",
        TEXT,
        "what the whole answer must match",
        for_types=("text",),
        format=Format.REGEX,
    ),
    _f(
        "pattern_help",
        TEXT,
        "what the pattern expects, in words (shown when an answer does not match)",
        for_types=("text",),
    ),
)

COLUMN = Section(
    "columns = [ { ... } ]",
    "One column of a table question: each row's cell of that name is typed and checked.",
    (
        _f("name", TEXT, "the cell's name in each row", required=True, format=Format.NAME),
        _f("prompt", TEXT, "the column's heading, what the cell is", required=True),
        *_VALUE_FIELDS,
    ),
    Question,
)

QUESTION = Section(
    "[[questions]]",
    "One typed question of the step's form. Its answer is `answers.NAME` in templates and "
    "expressions, `steps['STEP'].NAME` in other steps'.",
    (
        _f(
            "name", TEXT, "the answer's name, unique in the step", required=True, format=Format.NAME
        ),
        _f("prompt", TEXT, "the question as the form asks it", required=True),
        _VALUE_FIELDS[0],
        _f(
            "default",
            TEXT,
            "a Jinja expression over the facts and other steps' answers giving the proposed "
            "answer (a literal text needs quotes inside: \"'UTC'\")",
        ),
        *_VALUE_FIELDS[1:],
        _f("secret", BOOL, "the answer is a secret: never shown, logged or stored in clear"),
        _f(
            "when",
            TEXT,
            "a Jinja expression over the answers before this one: when it is false, the "
            "question is not asked and its answer not checked",
        ),
        _f(
            "item",
            TEXT,
            "the type of each item of a list question: a question type below that holds one value",
            for_types=("list",),
            values=ITEM_TYPES,
        ),
        _f(
            "columns",
            TABLES,
            "the typed cells of each row of a table question",
            for_types=("table",),
            section=COLUMN,
        ),
    ),
    Question,
)

VALIDATOR = Section(
    "validate = { ... }",
    "A named validator of wizard/validators.py instead of a shell line.",
    (
        _f(
            "with", TEXT, "the validator's name", required=True, values=VALIDATOR_NAMES, attr="name"
        ),
        _f("params", MAP, 'the validator\'s parameters: name = "JINJA EXPRESSION"'),
    ),
    NamedValidator,
)

FILE = Section(
    "[[files]]",
    "A file the step owns on the server, rendered from a Jinja template in the step's folder.",
    (
        _f("template", TEXT, "the template's file name in the step's folder", required=True),
        _f(
            "dest", TEXT, "the file's absolute path on the server (a Jinja template)", required=True
        ),
        _f("mode", TEXT, "the file's mode", format=Format.OCTAL_MODE),
        _f("owner", TEXT, "the owning user (a Jinja template)"),
        _f("group", TEXT, "the owning group (a Jinja template)"),
        _f(
            "validate",
            (TEXT, TABLE),
            "checks the new content before it replaces the old: a shell line where {new} is "
            'the new file\'s path, or `{ with = "NAME" }` naming a validator',
            section=VALIDATOR,
            table_attr="validate_with",
        ),
        _f(
            "validate_in",
            TEXT,
            "a configuration directory: validate runs on a copy of it with every staged file "
            "in place, {copy} its path",
        ),
        _f("secret", BOOL, "the content is secret: never shown, diffed or logged"),
        _f("notify", TEXT_LIST, "services whose handler runs when the file changed"),
        _f("when", TEXT, _WHEN),
        _f(
            "compare",
            TEXT,
            "for a secret file: a shell test, exit 0 when the server already holds the secret "
            "(`vw_secret` prints the content)",
        ),
        _f(
            "for_each",
            TEXT,
            "a Jinja expression giving a list: one file per item, `item` in its context",
        ),
    ),
    FileSpec,
)

SCRIPT = Section(
    "run = { ... }",
    "A longer command kept in a file beside the step.",
    (
        _f(
            "script",
            TEXT,
            "a Jinja file (.sh.j2) in the step's folder, rendered with the same quoting as an "
            "inline run",
            required=True,
        ),
    ),
)

COMMAND = Section(
    "[[commands]]",
    "An idempotent command run on the server: skipped when `creates` exists or `unless` "
    "succeeds. Values reach it through the engine's quoting.",
    (
        _f(
            "run",
            (TEXT, TABLE),
            'the shell command (a Jinja template), or `{ script = "FILE.sh.j2" }`',
            required=True,
            section=SCRIPT,
        ),
        _f(
            "stage",
            TEXT,
            "before: ahead of the files (a user who must own them); after: once files and "
            "handlers are done",
            values=typing.get_args(CommandStage),
        ),
        _f("creates", TEXT, "a path: when it exists, the command is not run"),
        _f("unless", TEXT, "a shell test: when it succeeds, the command is not run"),
        _f("when", TEXT, _WHEN),
        _f("timeout", INTEGER, "seconds before the command is stopped"),
    ),
    Command,
)

INSTALL = Section(
    "[[install]]",
    "Packages installed only when a condition holds (the web server an answer chose), with "
    "the step's `packages`: a run of several steps installs them in its one apt transaction. "
    "Prefer this to an `apt-get install` command.",
    (
        _f("packages", TEXT_LIST, "the packages", required=True),
        _f(
            "when",
            TEXT,
            "a Jinja expression over the answers, the other steps' answers and the facts: "
            "true installs the packages",
            required=True,
        ),
    ),
    ConditionalPackages,
)

CHECK = Section(
    "[[checks]]",
    "A verification check, by id (see Checks below), with its parameters: Jinja expressions "
    "over the answers, the other steps' answers and the facts, rendered when verify runs.",
    (
        _f(
            "id",
            TEXT,
            "the check's id: one of the checks below",
            required=True,
            values=tuple(MANIFEST),
        ),
        _f("params", PARAMS, 'the check\'s parameters: name = "JINJA EXPRESSION"'),
    ),
    CheckSpec,
)

REFUSE = Section(
    "[[refuse]]",
    "Answers that contradict each other or another step's, refused at the question.",
    (
        _f("question", TEXT, "the question whose answer is refused", required=True),
        _f(
            "when",
            TEXT,
            "a Jinja expression over `answers` and `steps`: true refuses the answer",
            required=True,
        ),
        _f(
            "reason",
            TEXT,
            "why it is refused: a text template over the same values as `when`, so it can "
            "name what it refuses",
            required=True,
        ),
        _f("hint", TEXT, "what to do instead"),
    ),
    Refusal,
)

REVEAL = Section(
    "[[reveal]]",
    "A file the step makes on the server that the user must keep a copy of (a key, a "
    "password): shown once, after the apply that made it, then never again.",
    (
        _f("path", TEXT, "the file on the server, an absolute path", required=True),
        _f("label", TEXT, "what it is and why to keep it, as the user is told", required=True),
    ),
    Reveal,
)

STEP = Section(
    "Top level",
    "The step itself. A step is a folder holding step.toml and its templates, shipped in "
    "templates/ or dropped in the user's config directory (a user step replaces a shipped "
    "one of the same id).",
    (
        _f(
            "id",
            TEXT,
            "the step's id, as commands and other steps name it",
            required=True,
            format=Format.STEP_ID,
        ),
        _f("title", TEXT, "one line saying what the step does", required=True),
        _f(
            "order",
            INTEGER,
            "where it comes in the catalog, smaller first (1000 when not given)",
            attr=None,
        ),
        _f("help", TEXT, "what the step does and why, for the form", strip=True),
        _f("chapters", TEXT, "the guide's chapters the step follows"),
        _f("requires", TEXT_LIST, "steps that must be applied first (their ids)"),
        _f(
            "applies_to",
            TEXT_LIST,
            "the distributions the step supports",
            values=("debian", "ubuntu"),
        ),
        _f("packages", TEXT_LIST, "packages installed before the files are written"),
        _f(
            "install",
            TABLES,
            "packages installed only when a condition holds",
            section=INSTALL,
            attr="conditional_packages",
        ),
        _f("enable", TEXT_LIST, "systemd units enabled and started"),
        _f("ports", TEXT_LIST, 'ports the firewall opens for the step, like "443/tcp" (Jinja)'),
        _f(
            "depends_on_ports",
            BOOL,
            "the step's files follow the other steps' ports (the firewall): a change of those "
            "makes it outdated",
        ),
        _f(
            "depends_on_packages",
            TEXT_LIST,
            "packages whose arrival changes the step's files: a step installing one makes this "
            "step outdated",
        ),
        _f(
            "guard",
            TEXT,
            "lockout: the step may cut the way in (sshd, firewall); the change is confirmed "
            "through a new session and rolled back otherwise",
            values=GUARDS,
        ),
        _f(
            "handlers",
            MAP,
            'what a change of a notified service\'s files does to it: service = "ACTION" '
            "(reload when not given)",
            values=typing.get_args(ServiceAction),
        ),
        _f(
            "provides",
            MAP,
            "the roles the step's answers fill for the engine and the other steps: "
            f'role = "QUESTION NAME"; roles: {", ".join(Role)}',
        ),
        _f("questions", TABLES, "the step's form", section=QUESTION),
        _f("files", TABLES, "the files the step writes", section=FILE),
        _f("commands", TABLES, "the commands the step runs", section=COMMAND),
        _f("checks", TABLES, "what verify proves", section=CHECK),
        _f("refuse", TABLES, "answers refused with a reason", section=REFUSE, attr="refusals"),
        _f(
            "reveal",
            TABLES,
            "files shown to the user once, after the apply that made them",
            section=REVEAL,
            attr="reveals",
        ),
    ),
    Step,
)

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """Something wrong at a place of a step file: a path of keys and list indexes."""

    path: KeyPath
    message: str


# ----------------------------------------------------------------------------- checking


def _expected(values: Sequence[str]) -> str:
    return ", ".join(repr(value) for value in values)


def _expected_values(value: str, values: Sequence[str]) -> str:
    """The values to list: all of them, or those of the same area (check ids: "ssh.")."""
    if len(values) <= 30:
        return f"expected one of: {_expected(values)}"
    area = value.partition(".")[0] + "."
    near = [known for known in values if known.startswith(area)]
    listed = f"expected one of: {_expected(near)}, or another " if near else "expected one "
    return listed + "of those listed in docs/steps.md"


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _where(path: KeyPath) -> str:
    """A path as a reader finds it in the file: questions[2].type, files[1].validate.with."""
    text = ""
    for part in path:
        text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _fits(kind: Kind, value: Any) -> bool:
    if kind is TEXT:
        return isinstance(value, str)
    if kind is INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is BOOL:
        return isinstance(value, bool)
    if kind is TEXT_LIST:
        return isinstance(value, list)  # each item is checked on its own, at its line
    if kind is TABLES:
        return isinstance(value, list) and all(isinstance(item, dict) for item in value)
    return isinstance(value, dict)  # TABLE, MAP, PARAMS


_FORMATS = {
    Format.OCTAL_MODE: re.compile(r"0?[0-7]{3,4}"),
    Format.STEP_ID: re.compile(r"[a-z0-9][a-z0-9-]*"),
    Format.NAME: re.compile(r"[a-z_][a-z0-9_]*"),
}


def _format_problem(field: Field, value: str) -> str | None:
    if field.format is None:
        return None
    pattern = _FORMATS.get(field.format)
    if pattern is not None and not pattern.fullmatch(value):
        return f"'{value}' does not fit '{field.name}': expected {field.format.value}"
    if field.format is Format.REGEX:
        try:
            re.compile(value)
        except re.error as error:
            return f"'{value}' is not a regular expression ({error})"
    return None


class _Checker:
    """Collects every problem of one step file."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(path, message))

    def table(self, data: Mapping[str, Any], section: Section, path: KeyPath) -> None:
        names = [field.name for field in section.fields]
        for key, value in data.items():
            field = section.field(key)
            if field is None:
                self.add(
                    (*path, key),
                    f"unknown field '{key}' in {section.title}{_suggest(key, names)} "
                    f"(expected one of: {', '.join(names)})",
                )
            else:
                self.value(field, value, (*path, key))
        for field in section.fields:
            if field.required and field.name not in data:
                self.add(path, f"{section.title} needs '{field.name}' ({field.description})")
        if section is QUESTION or section is COLUMN:
            self.question(data, path, column=section is COLUMN)
        elif section is CHECK:
            self.check_params(data, path)
        elif section is VALIDATOR:
            self.validator_params(data, path)

    def value(self, field: Field, value: Any, path: KeyPath) -> None:
        kind = next((kind for kind in field.kinds if _fits(kind, value)), None)
        if kind is None:
            expected = " or ".join(kind.value for kind in field.kinds)
            self.add(path, f"'{field.name}' is {_kind_of(value)}: expected {expected}")
            return
        if kind is TEXT:
            self.text(field, value, path)
        elif kind in (TEXT_LIST, MAP):
            items = value if kind is TEXT_LIST else value.values()
            keys: Iterable[str | int] = range(len(value)) if kind is TEXT_LIST else value.keys()
            for key, item in zip(keys, items, strict=True):
                self.text(field, item, (*path, key))
        elif kind is TABLES:
            assert field.section is not None
            for index, item in enumerate(value):
                self.table(item, field.section, (*path, index))
        elif kind is TABLE:
            assert field.section is not None
            self.table(value, field.section, path)
        elif kind is PARAMS:
            for key, item in value.items():
                if not isinstance(item, str):
                    self.add(
                        (*path, key),
                        f"parameter '{key}' is {_kind_of(item)}: expected text, a Jinja "
                        f"expression (a literal text needs quotes inside: \"'{item}'\")",
                    )

    def text(self, field: Field, value: Any, path: KeyPath) -> None:
        if not isinstance(value, str):
            last = path[-1]
            what = f"item {last + 1} of '{field.name}'" if isinstance(last, int) else f"'{last}'"
            self.add(path, f"{what} is {_kind_of(value)}: expected text")
            return
        if field.values and value not in field.values:
            self.add(
                path,
                f"'{value}' is not a known value of '{field.name}'"
                f"{_suggest(value, field.values)} ({_expected_values(value, field.values)})",
            )
            return
        problem = _format_problem(field, value)
        if problem:
            self.add(path, problem)

    def question(self, data: Mapping[str, Any], path: KeyPath, column: bool) -> None:
        """The fields that belong to one type only, and what each type needs."""
        kind = data.get("type")
        if not isinstance(kind, str):
            return
        for key in data:
            field = QUESTION.field(key) or COLUMN.field(key)
            if field is not None and field.for_types and kind not in field.for_types:
                self.add(
                    (*path, key),
                    f"'{key}' is for questions of type {' or '.join(field.for_types)}, not {kind}",
                )
        if kind == "choice" and "choices" not in data and "choices_from" not in data:
            self.add(path, "a choice question needs 'choices' or 'choices_from'")
        if kind == "list" and "item" not in data:
            self.add(
                path,
                f"a list question needs 'item', the type of its items: one of "
                f"{_expected(ITEM_TYPES)}",
            )
        if kind == "table" and "columns" not in data:
            self.add(path, "a table question needs 'columns'")
        if column and kind not in ITEM_TYPES:
            self.add(
                (*path, "type"),
                f"a column holds one value: expected one of {_expected(ITEM_TYPES)}",
            )

    def check_params(self, data: Mapping[str, Any], path: KeyPath) -> None:
        decl = MANIFEST.get(str(data.get("id")))
        params = data.get("params", {})
        if decl is None or not isinstance(params, dict):
            return
        declared = [param.name for param in decl.params]
        for name in params:
            if decl.param(name) is None:
                takes = f"it takes: {', '.join(declared)}" if declared else "it takes none"
                self.add(
                    (*path, "params", name),
                    f"check '{decl.id}' has no parameter '{name}'"
                    f"{_suggest(name, declared)} ({takes})",
                )
        for param in decl.params:
            if param.required and param.name not in params:
                self.add(
                    (*path, "params") if "params" in data else path,
                    f"check '{decl.id}' needs the parameter '{param.name}' "
                    f"({param.type.value}: {param.description})",
                )

    def validator_params(self, data: Mapping[str, Any], path: KeyPath) -> None:
        validator = VALIDATORS.get(str(data.get("with")))
        params = data.get("params", {})
        if validator is None or not isinstance(params, dict):
            return
        takes = ", ".join(validator.params) if validator.params else "none"
        for name in params:
            if name not in validator.params:
                self.add(
                    (*path, "params", name),
                    f"validator '{validator.name}' has no parameter '{name}'"
                    f"{_suggest(name, validator.params)} (it takes: {takes})",
                )

    def step(self, data: Mapping[str, Any]) -> None:
        self.table(data, STEP, ())
        names = [q.get("name") for q in data.get("questions", ()) if isinstance(q, dict)]
        for index, name in enumerate(names):
            if name in names[:index]:
                self.add(("questions", index, "name"), f"a second question named '{name}'")
        provides = data.get("provides")
        for role, question in provides.items() if isinstance(provides, dict) else ():
            if role not in tuple(Role):
                self.add(
                    ("provides", role),
                    f"'{role}' is no role{_suggest(role, list(Role))}"
                    f"; {_expected_values(role, list(Role))}",
                )
            if isinstance(question, str) and question not in names:
                self.add(
                    ("provides", role),
                    f"the step has no question '{question}'"
                    f"{_suggest(question, [str(n) for n in names])}",
                )
        for index, rule in enumerate(data.get("refuse", ())):
            question = rule.get("question") if isinstance(rule, dict) else None
            if isinstance(question, str) and question not in names:
                self.add(
                    ("refuse", index, "question"),
                    f"the step has no question '{question}'"
                    f"{_suggest(question, [str(n) for n in names])}",
                )


def problems_of(data: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong in a parsed step.toml, in the order of the schema."""
    checker = _Checker()
    checker.step(data)
    return checker.problems


def missing_files(data: Mapping[str, Any], folder: Path) -> list[Problem]:
    """Templates and scripts the step names that are not in its folder (Jinja reads only
    there): a misspelt file name is refused at load, not halfway through an apply."""
    named: list[tuple[KeyPath, str]] = [
        (("files", index, "template"), spec["template"])
        for index, spec in enumerate(data.get("files", ()))
    ]
    named += [
        (("commands", index, "run", "script"), command["run"]["script"])
        for index, command in enumerate(data.get("commands", ()))
        if isinstance(command["run"], dict)
    ]
    present = sorted(path.name for path in folder.iterdir() if path.is_file())
    return [
        Problem(
            path,
            f"there is no file '{name}' in {folder}{_suggest(name, present)}",
        )
        for path, name in named
        if not (folder / name).is_file()
    ]


def refuse(toml_path: Path, text: str, problems: Sequence[Problem]) -> WizardError:
    """The error naming each problem's line in the file."""
    lines = locate(text)
    found = sorted(
        ((_line_of(lines, problem.path), problem) for problem in problems), key=lambda p: p[0]
    )
    listed = "\n".join(
        f"  {toml_path}:{line}: {_where(problem.path) or 'top level'}: {problem.message}"
        for line, problem in found
    )
    count = "a problem" if len(found) == 1 else f"{len(found)} problems"
    return WizardError(
        f"the step definition {toml_path} has {count}:\n{listed}",
        "fix those lines, or remove the folder; the fields and values a step.toml takes are "
        "in docs/steps.md",
    )


# ------------------------------------------------------------------------- line numbers


def _line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int:
    """The line of the deepest part of `path` the scan found (the file's first line else)."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1


class _Lost(Exception):
    """The scan met something it does not follow (valid TOML it reads too simply)."""


class _Scanner:
    """Finds the line of every key, table header and list item of a TOML text.

    tomllib gives no positions. The text has parsed already, so the scan can be simple: it
    follows headers ([x], [[x]] counted per name), keys (bare, quoted, dotted), strings
    (basic, literal, multi-line: a bracket in a help text is not structure), arrays and
    inline tables, noting where each value starts.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.lines: dict[KeyPath, int] = {}
        self.counts: dict[KeyPath, int] = {}

    def line(self) -> int:
        return self.text.count("\n", 0, self.at) + 1

    def check_end(self) -> None:
        """Stop at the end of the text inside a value: the scan lost its way."""
        if self.at >= len(self.text):
            raise _Lost

    def peek(self, count: int = 1) -> str:
        return self.text[self.at : self.at + count]

    def skip_blank(self, newlines: bool) -> None:
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == "#":
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            elif char in " \t\r" or (newlines and char == "\n"):
                self.at += 1
            else:
                return

    def scan(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while True:
            self.skip_blank(newlines=True)
            if self.at >= len(self.text):
                return self.lines
            if self.peek(2) == "[[":
                self.at += 2
                name = self.keys()
                self.at = self.text.index("]]", self.at) + 2
                index = self.counts.get(name, 0)
                self.counts[name] = index + 1
                table = (*name, index)
                self.lines.setdefault(name, self.line())
                self.lines[table] = self.line()
            elif self.peek() == "[":
                self.at += 1
                table = self.keys()
                self.at = self.text.index("]", self.at) + 1
                self.lines[table] = self.line()
            else:
                self.pair(table)

    def keys(self) -> KeyPath:
        """A dotted key (a.b."c d"), the position after it."""
        parts: list[str | int] = []
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in "\"'":
                end = self.text.index(char, self.at + 1)
                parts.append(self.text[self.at + 1 : end])
                self.at = end + 1
            else:
                match = re.compile(r"[A-Za-z0-9_-]+").match(self.text, self.at)
                if match is None:
                    return tuple(parts)
                parts.append(match.group())
                self.at = match.end()
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return tuple(parts)
            self.at += 1

    def pair(self, table: KeyPath) -> None:
        path = (*table, *self.keys())
        self.lines[path] = self.line()
        self.skip_blank(newlines=False)
        self.at += 1  # the "="
        self.value(path)

    def value(self, path: KeyPath) -> None:
        self.skip_blank(newlines=False)
        for quote in ('"""', "'''"):
            if self.peek(3) == quote:
                self.at = self.text.index(quote, self.at + 3) + 3
                while self.peek() == quote[0]:  # up to two quotes may end the content
                    self.at += 1
                return
        char = self.peek()
        if char == '"':
            self.at += 1
            while self.peek() != '"':
                self.at += 2 if self.peek() == "\\" else 1
                self.check_end()
            self.at += 1
        elif char == "'":
            self.at = self.text.index("'", self.at + 1) + 1
        elif char == "[":
            self.at += 1
            index = 0
            while True:
                self.skip_blank(newlines=True)
                self.check_end()
                if self.peek() == "]":
                    self.at += 1
                    return
                self.lines[(*path, index)] = self.line()
                self.value((*path, index))
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.at += 1
                    index += 1
        elif char == "{":
            self.at += 1
            while True:
                self.skip_blank(newlines=True)
                self.check_end()
                if self.peek() == "}":
                    self.at += 1
                    return
                self.pair(path)
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.at += 1
        else:
            match = re.compile(r"[^,\]}\s#]+").match(self.text, self.at)
            self.at = match.end() if match else self.at + 1


def locate(text: str) -> dict[KeyPath, int]:
    """The line of each key path of a TOML text: ("files", 1, "mode") -> 12.

    The scan serves only error messages: where it cannot follow the text, the lines found up
    to there are kept and a problem further on is shown at its table's or the first line.
    """
    scanner = _Scanner(text)
    try:
        return scanner.scan()
    except (_Lost, ValueError):
        return scanner.lines


# ------------------------------------------------------------------------ into values


def _build(section: Section, data: Mapping[str, Any]) -> dict[str, Any]:
    """The dataclass keyword arguments of one checked table."""
    values: dict[str, Any] = {}
    for key, raw in data.items():
        field = section.field(key)
        assert field is not None  # checked
        if isinstance(raw, dict) and TABLE in field.kinds:
            assert field.section is not None
            built = _build(field.section, raw)
            if field.table_attr and field.section.target:
                values[field.table_attr] = field.section.target(**built)
            else:
                values.update(built)
            continue
        attr = field.target_attr
        if attr is None:
            continue
        if TABLES in field.kinds:
            assert field.section is not None and field.section.target is not None
            target = field.section.target
            values[attr] = tuple(target(**_build(field.section, item)) for item in raw)
        elif TEXT_LIST in field.kinds:
            values[attr] = tuple(raw)
        elif MAP in field.kinds or PARAMS in field.kinds:
            values[attr] = dict(raw)
        else:
            values[attr] = raw.strip() if field.strip else raw
    return values


def step_from_toml(data: Mapping[str, Any], source_dir: str) -> Step:
    """The Step of a step.toml that `problems_of` found nothing wrong with."""
    values = _build(STEP, data)
    values.setdefault("help", "")
    values["provides"] = {Role(role): name for role, name in values.get("provides", {}).items()}
    # A command kept in a file is that file's text as its run: the plan renders and quotes it
    # exactly as an inline run.
    values["commands"] = tuple(
        dataclasses.replace(command, run=(Path(source_dir) / command.script).read_text())
        if command.script
        else command
        for command in values.get("commands", ())
    )
    return Step(**values, source_dir=source_dir)


def check_requires(toml_path: Path, step: Step, known: Iterable[str]) -> None:
    """Refuse a `requires` naming no step of the catalog, at its line."""
    known = tuple(known)
    problems = [
        Problem(
            ("requires", index),
            f"there is no step '{name}'{_suggest(name, known)} (known: {', '.join(known)})",
        )
        for index, name in enumerate(step.requires)
        if name not in known
    ]
    if problems:
        raise refuse(toml_path, toml_path.read_text(), problems)


# -------------------------------------------------------------------------- reference


def _default(section: Section, field: Field) -> str:
    attr = field.target_attr
    if section.target is None or attr is None:
        return ""
    for target_field in dataclasses.fields(section.target):
        if target_field.name == attr and target_field.default is not dataclasses.MISSING:
            default = target_field.default
            if default is None or default in ((), ""):
                return ""
            if isinstance(default, tuple):
                return "[" + ", ".join(f'"{item}"' for item in default) + "]"
            if isinstance(default, bool):
                return str(default).lower()
            return f'"{default}"' if isinstance(default, str) else str(default)
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section_markdown(section: Section) -> Iterator[str]:
    yield f"## {section.title}"
    yield ""
    yield section.description
    yield ""
    yield "| Field | Type | Required / default | Meaning |"
    yield "|---|---|---|---|"
    for field in section.fields:
        kinds = " or ".join(kind.value for kind in field.kinds)
        need = "required" if field.required else (_default(section, field) or "optional")
        meaning = field.description
        # A long list of values (question types, check ids) has its own section below.
        if field.values and len(field.values) <= 12:
            meaning += "; one of: " + ", ".join(f"`{value}`" for value in field.values)
        if field.for_types:
            meaning += f" (only for type {' or '.join(f'`{t}`' for t in field.for_types)})"
        if field.format:
            meaning += f"; {field.format.value}"
        yield f"| `{field.name}` | {kinds} | {_cell(need)} | {_cell(meaning)} |"
    yield ""


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


def _types_markdown() -> list[str]:
    parsers = {**PARSERS, **QUESTION_PARSERS}
    out = [
        "## Question types",
        "",
        "What a question's `type` accepts; an answer is refused with the reason otherwise. A",
        "list's `item` and a table's column take the types that hold one value (not a list,",
        "table or secret).",
        "",
        "| Type | Accepts |",
        "|---|---|",
    ]
    out += [
        f"| `{name}` | {_cell(_first_paragraph(parsers[name].__doc__))} |"
        for name in QUESTION_TYPES
    ]
    return [*out, ""]


def _validators_markdown() -> list[str]:
    out = [
        "## Named validators",
        "",
        '`validate = { with = "NAME", params = { ... } }` runs one of these on the new file',
        "before it replaces the old (the scripts are wizard/validate/NAME.sh.j2).",
        "",
        "| Name | Checks a copy of | Parameters | What it proves |",
        "|---|---|---|---|",
    ]
    for validator in VALIDATORS.values():
        params = ", ".join(f"`{name}`" for name in validator.params) or "none"
        copy = f"`{validator.validate_in}`" if validator.validate_in else "no"
        out.append(f"| `{validator.name}` | {copy} | {params} | {_cell(validator.summary())} |")
    return [*out, ""]


def _check_markdown(decl: CheckDecl) -> Iterator[str]:
    yield f"### `{decl.id}`"
    yield ""
    yield decl.summary
    yield ""
    if not decl.params:
        yield "No parameters."
        yield ""
        return
    yield "| Parameter | Type | Required | Meaning |"
    yield "|---|---|---|---|"
    for param in decl.params:
        need = "required" if param.required else "optional"
        yield f"| `{param.name}` | {param.type.value} | {need} | {_cell(param.description)} |"
    yield ""


def markdown() -> str:
    """The reference page of step.toml: docs/steps.md."""
    out = [
        "# step.toml reference",
        "",
        "<!-- Generated by `python -m wizard.stepschema --markdown > docs/steps.md` from",
        "wizard/stepschema.py and wizard/checks/manifest.py; edit those, not this file. -->",
        "",
        "A step is a folder with a `step.toml` and the Jinja templates it names. The wizard",
        "checks every step.toml when it loads, the shipped ones and yours: an unknown field or",
        "value stops it with the file, the line and what was expected.",
        "",
        "Text values marked as Jinja are rendered with the answers (`answers.NAME`), the other",
        "steps' answers (`steps['STEP'].NAME`) and the server's facts (`facts.…`). In shell",
        "(`run`, `unless`, `validate`, `compare`) every interpolated value is quoted by the",
        "engine.",
        "",
    ]
    for section in (
        STEP,
        QUESTION,
        COLUMN,
        FILE,
        VALIDATOR,
        COMMAND,
        SCRIPT,
        CHECK,
        REFUSE,
        REVEAL,
    ):
        out += _section_markdown(section)
    out += _types_markdown()
    out += _validators_markdown()
    out += [
        "## Checks",
        "",
        "Each `[[checks]]` names one of these ids. Its `params` are Jinja expressions; the",
        "names are checked when the catalog loads, the rendered values' types when verify",
        "runs.",
        "",
    ]
    for decl in sorted(MANIFEST.values(), key=lambda decl: decl.id):
        out += _check_markdown(decl)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: Sequence[str]) -> int:
    """`python -m wizard.stepschema --markdown`: print the reference page."""
    if list(argv) != ["--markdown"]:
        print("usage: python -m wizard.stepschema --markdown > docs/steps.md", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
