"""The run sequence (plan, review, apply, follow-ups, checks) is written once, in
wizard/workflow.py: the front ends step through it and never call the steps of the sequence
themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONT_ENDS = [ROOT / "wizard" / "cli.py", *sorted((ROOT / "screens").glob("*.py"))]
# What only the workflow sequences: a front end calling one of these would be sequencing a
# run of its own.
SEQUENCE_CALLS = {"apply", "followups", "adopt", "outdated_by"}


def sequence_calls(source: str) -> list[str]:
    """The `x.apply(...)`-like calls in a module, as `name at line`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SEQUENCE_CALLS
        ):
            found.append(f"{node.func.attr} at line {node.lineno}")
    return found


@pytest.mark.parametrize("path", FRONT_ENDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_front_end_sequences_a_run(path: Path) -> None:
    assert sequence_calls(path.read_text()) == [], (
        f"{path.relative_to(ROOT)} sequences a run itself: step through "
        "wizard.workflow.run_steps instead"
    )


def test_the_rule_sees_a_front_end_that_does() -> None:
    sample = "def go(session, plan):\n    session.apply(plan)\n    session.followups('web')\n"
    assert sequence_calls(sample) == ["apply at line 2", "followups at line 3"]


def test_both_front_ends_step_through_the_workflow() -> None:
    for path in (ROOT / "wizard" / "cli.py", ROOT / "screens" / "app.py"):
        assert "run_steps(" in path.read_text(), path
