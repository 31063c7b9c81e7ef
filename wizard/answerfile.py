"""An answers file and the command line's steps, checked whole before anything changes.

Two moments: before connecting, the file must be UTF-8 TOML whose tables are steps and whose
keys are their questions, every value parsing by its question's type, and every `--step` must
exist; after connecting, before the first step is applied, every selected step's answers are
validated in full (defaults from the server's facts filled in), each against what the steps
before it in the same run will have left. A mistake in the last step refuses the first.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.answers import Answers, check_refusals, parse_answer
from wizard.catalog import Catalog
from wizard.errors import AnswerError, WizardError
from wizard.session import Session
from wizard.state import APPLIED, StepState
from wizard.steps import Question, Step


@dataclass(frozen=True)
class AnswersFile:
    """The answers of a run, by step id: from a file, or none."""

    tables: Mapping[str, Mapping[str, Any]]
    path: Path | None = None

    def for_step(self, step_id: str) -> Mapping[str, Any]:
        """The raw answers given for a step (none given: every question takes its default)."""
        return self.tables.get(step_id, {})

    def where(self, step_id: str, key: str = "") -> str:
        """Where the user fixes a value: the table and key, in which file."""
        place = f"[{step_id}] {key}".strip()
        return f"{place} in {self.path}" if self.path else place


def visible(text: str) -> str:
    """A name from the user's file with any invisible character shown as its code."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def read_answers_file(path: Path) -> AnswersFile:
    """Read an answers file: UTF-8 TOML, one table per step id. Says which line is wrong."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AnswerError(
            f"answers file {path} does not exist", "check the path given to --answers"
        ) from None
    except OSError as error:
        raise AnswerError(
            f"answers file {path} cannot be read: {error.strerror}",
            "give --answers a readable file",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise AnswerError(
            f"answers file {path} is not UTF-8 text: byte 0x{data[error.start]:02x} on line {line}",
            "save it as UTF-8 (your editor's 'save with encoding'), or retype that line",
        ) from None
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AnswerError(
            f"answers file {path} is not valid TOML: {error}{_quoted_line(text, str(error))}",
            'an answers file holds [step] tables of name = "value" lines (text in quotes); '
            "fix that line",
        ) from None
    for key, table in tables.items():
        if not isinstance(table, dict):
            raise AnswerError(
                f"answers file {path}: '{visible(key)} = ...' stands outside any [step] table",
                "put each answer under the [step] it belongs to, such as [base]",
            )
    return AnswersFile(tables, path)


def _quoted_line(text: str, error: str) -> str:
    """': fqdn = server.example.net', the line tomllib's message points at (it gives only its
    number on Python 3.11)."""
    found = re.search(r"at line (\d+)", error)
    lines = text.splitlines()
    if not found or not 0 < int(found.group(1)) <= len(lines):
        return ""
    return f": {visible(lines[int(found.group(1)) - 1].strip())}"


def unknown_step(catalog: Catalog, step_id: str, where: str) -> AnswerError:
    """'no step admin-usr, did you mean admin-user?'"""
    close = difflib.get_close_matches(step_id, catalog.ids(), n=1)
    guess = f", did you mean {close[0]}?" if close else ""
    return AnswerError(
        f"{where}: no step {visible(step_id)}{guess}",
        f"the steps are: {', '.join(catalog.ids())} (vps-wizard steps describes them)",
    )


def check_answers_file(catalog: Catalog, answers: AnswersFile) -> None:
    """Every table is a step, every key one of its questions, every value of its type.

    Values are parsed one by one, without the server: a missing answer is not an error here
    (it takes its default, known once connected). Answers of the file that contradict each
    other (a step's `[[refuse]]` rules) are refused here too.
    """
    source = f"answers file {answers.path}" if answers.path else "answers"
    parsed: dict[str, dict[str, Any]] = {}
    for step_id, table in answers.tables.items():
        if step_id not in catalog.ids():
            raise unknown_step(catalog, step_id, source)
        step = catalog.get(step_id)
        parsed[step_id] = {}
        for key, raw in table.items():
            question = _question(step, key, answers)
            try:
                parsed[step_id][key] = parse_answer(question, raw)
            except AnswerError as error:
                raise AnswerError(
                    f"{step_id}.{key}: {error.message}",
                    error.hint or f"correct {answers.where(step_id, key)}",
                ) from None
    for step_id, values in parsed.items():
        _check_refusals_in_file(catalog.get(step_id), values, parsed, answers)


def _check_refusals_in_file(
    step: Step,
    values: Mapping[str, Any],
    parsed: Mapping[str, Mapping[str, Any]],
    answers: AnswersFile,
) -> None:
    """The step's contradictions among the answers the file gives. A rule that reads an answer
    the file leaves out (a default, a step applied before) is checked once connected."""
    try:
        check_refusals(step, {"answers": values, "steps": parsed})
    except AnswerError as error:
        question = error.message.partition(": ")[0].partition(".")[2]
        raise AnswerError(
            error.message, f"{error.hint}; correct {answers.where(step.id, question)}".lstrip("; ")
        ) from None
    except WizardError:
        return


def _question(step: Step, key: str, answers: AnswersFile) -> Question:
    names = [q.name for q in step.questions]
    if key in names:
        return step.question(key)
    close = difflib.get_close_matches(key, names, n=1)
    guess = f", did you mean {close[0]}?" if close else ""
    raise AnswerError(
        f"step {step.id} has no question {visible(key)}{guess}",
        f"its questions are: {', '.join(names) or 'none'}; correct {answers.where(step.id)}",
    )


def check_step_ids(catalog: Catalog, step_ids: Iterable[str]) -> None:
    """Every --step names a step of the catalog."""
    for step_id in step_ids:
        if step_id not in catalog.ids():
            raise unknown_step(catalog, step_id, "--step")


def command_line_answers(
    catalog: Catalog, path: Path | None, step_ids: Sequence[str] = ()
) -> AnswersFile:
    """The run's answers file and --step options, checked before anything connects."""
    check_step_ids(catalog, step_ids)
    answers = read_answers_file(path) if path else AnswersFile({})
    check_answers_file(catalog, answers)
    return answers


def selected_steps(catalog: Catalog, step_ids: Sequence[str], answers: AnswersFile) -> list[str]:
    """The steps to work on: --step, else those of the answers file, in catalog order."""
    wanted = set(step_ids) or set(answers.tables)
    check_step_ids(catalog, wanted)
    return [step_id for step_id in catalog.ids() if step_id in wanted]


def validate_selection(
    session: Session, step_ids: Sequence[str], answers: AnswersFile
) -> dict[str, Answers]:
    """Validate every selected step's answers in full, in order, before the first is applied.

    Each step sees the ones before it as applied with their answers (its defaults, such as the
    site's domain, come from them), in a copy of the session's record: nothing is saved, no
    round trip is made. A step whose prerequisite is neither on the host nor earlier in the
    run is refused here too.
    """
    preview = dataclasses.replace(session)
    validated: dict[str, Answers] = {}
    for step_id in step_ids:
        step = session.catalog.get(step_id)
        for required in step.requires:
            if preview.host.step(required).status not in APPLIED:
                raise AnswerError(
                    f"step {step_id} needs {required}, which this host does not have yet",
                    f"add a [{required}] table to the answers file (or --step {required}), "
                    f"or apply {required} first",
                )
        try:
            validated[step_id] = preview.validate(step, answers.for_step(step_id))
        except AnswerError as error:
            raise AnswerError(
                f"nothing was changed: {error.message}",
                error.hint or f"correct {answers.where(step_id)}, then run the same command",
            ) from None
        record = dataclasses.replace(
            preview.host.step(step_id),
            status=StepState.APPLIED,
            answers=validated[step_id].public(),
        )
        steps = {**preview.host.steps, step_id: record}
        preview.host = dataclasses.replace(preview.host, steps=steps)
    return validated
