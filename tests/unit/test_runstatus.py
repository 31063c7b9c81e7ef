"""The run statuses' shell patterns, made from the one enum, match exactly their statuses."""

from __future__ import annotations

import subprocess

import pytest

from wizard.runstatus import UNFINISHED, RunStatus, case_pattern, line_regex
from wizard.shell import sh


def matches_case(pattern, word: str) -> bool:
    command = sh("case {word} in {pattern}) exit 0;; *) exit 1;; esac", word=word, pattern=pattern)
    return subprocess.run(["sh", "-c", command], check=False).returncode == 0


def test_a_case_pattern_matches_its_statuses_and_no_other_word():
    pattern = case_pattern(RunStatus.WRITING, RunStatus.AWAITING_CONFIRM)
    for status in RunStatus:
        expected = status in (RunStatus.WRITING, RunStatus.AWAITING_CONFIRM)
        assert matches_case(pattern, status) == expected, status
    for word in ("awaiting", "writing-x", "*", ""):
        assert not matches_case(pattern, word)


def test_the_unfinished_regex_finds_exactly_the_unfinished_runs(tmp_path):
    for status in RunStatus:
        (tmp_path / status.value).mkdir()
        (tmp_path / status.value / "status").write_text(f"{status}\n")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "status").write_text("awaiting-confirmed\n")
    found = subprocess.run(
        [
            "sh",
            "-c",
            sh("cd {d} && grep -l -s -E {r} */status", d=tmp_path, r=line_regex(*UNFINISHED)),
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert sorted(found) == sorted(f"{s}/status" for s in UNFINISHED)


def test_a_status_that_regular_expressions_would_read_is_refused():
    class Odd(str):
        pass

    with pytest.raises(ValueError, match="lower-case"):
        line_regex(Odd("done.*"))  # type: ignore[arg-type]
