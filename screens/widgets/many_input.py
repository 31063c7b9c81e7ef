"""The one-line field of a list or table question: its answer written as the text the engine's
parser reads back (never Python's repr of a tuple or a row), and a placeholder saying how."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from wizard.answers import answer_as_text
from wizard.steps import Question

MANY_TYPES = ("list", "table")
"""The question types this field is for (a `*_list` type keeps its plain Input)."""


def placeholder(question: Question) -> str:
    """How to type the answer: items separated by commas, rows by semicolons."""
    if question.type == "table":
        cells = ", ".join(column.name for column in question.columns)
        return f"{cells}; {cells}; …"
    return f"{question.item or 'item'}, {question.item or 'item'}, …"


def many_input(question: Question, default: Any, widget_id: str) -> Input:
    """An Input prefilled with the answer in its text form: `alice, bob` for a list,
    `RESTART, /usr/bin/systemctl, restart ssh; JOURNAL, /usr/bin/journalctl, ` for a table."""
    return Input(
        answer_as_text(question, default),
        placeholder=placeholder(question),
        id=widget_id,
        compact=True,
    )
