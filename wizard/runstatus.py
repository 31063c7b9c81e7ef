"""A run's status, as the server's journal records it in runs/<id>/status.

Python compares with these values and the shell scripts that write and read the journal get
their words and patterns from here, through the engine's quoting (wizard.shell), so the two
never spell a status differently.
"""

from __future__ import annotations

import re
from enum import StrEnum

from wizard.shell import Shell, join, quote


class RunStatus(StrEnum):
    """started -> writing -> done | awaiting-confirm -> done | reverted; failed: nothing was
    renamed into place; rolled-back: the files were restored after a failure."""

    STARTED = "started"
    WRITING = "writing"
    AWAITING_CONFIRM = "awaiting-confirm"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"
    REVERTED = "reverted"


PLAIN = re.compile(r"[a-z]+(-[a-z]+)*")
# A run in one of these is not over: recovery looks at it (its owner may be gone).
UNFINISHED = (RunStatus.STARTED, RunStatus.WRITING, RunStatus.AWAITING_CONFIRM)
FINAL = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.ROLLED_BACK, RunStatus.REVERTED})


def case_pattern(*statuses: RunStatus) -> Shell:
    """The pattern of a shell `case` branch matching exactly these statuses: `a|b`."""
    return join((quote(status) for status in statuses), "|")


def line_regex(*statuses: RunStatus) -> str:
    """An extended regular expression matching a line that is exactly one of these statuses
    (grep -E); a value for sh(), which quotes it. A status is lower-case words and hyphens,
    none of which means anything to a regular expression outside brackets."""
    for status in statuses:
        if not PLAIN.fullmatch(status):
            raise ValueError(f"run status {status!r} is not lower-case words and hyphens")
    return "^(" + "|".join(statuses) + ")$"
