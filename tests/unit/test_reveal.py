"""A step's files to keep are read once: the script (run by a real shell) prints each and marks
it shown in one go, a second run prints nothing, and what it prints is parsed as data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wizard.cli import print_secrets
from wizard.reveal import Secret, parse_revealed, reveal_script
from wizard.steps import Reveal


def run(script: str) -> str:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout


def test_each_file_is_shown_once(tmp_path: Path) -> None:
    made = tmp_path / "password"
    made.write_text("c2VjcmV0 with spaces\n")
    reveals = (
        Reveal(str(tmp_path / "not made yet"), "a key"),
        Reveal(str(made), "the password"),
    )
    script = str(reveal_script(reveals, shown_dir=str(tmp_path / "shown")))
    first = parse_revealed(reveals, run(script))
    assert first == (Secret("the password", str(made), "c2VjcmV0 with spaces"),)
    assert parse_revealed(reveals, run(script)) == ()
    # A file made later is still shown, once.
    (tmp_path / "not made yet").write_text("k\n")
    assert [s.label for s in parse_revealed(reveals, run(script))] == ["a key"]


@pytest.mark.parametrize("line", ["2 c2VjcmV0", "x c2VjcmV0", "0 not base64!", "-1 c2VjcmV0", "0 "])
def test_a_line_the_script_would_not_print_is_dropped(line: str) -> None:
    assert parse_revealed((Reveal("/p", "label"),), line) == ()


def test_the_terminal_gets_it_on_the_error_stream_with_control_characters_shown(capsys) -> None:
    print_secrets("backups", (Secret("the password", "/p", "ab\x1b[2Jcd"),))
    out, err = capsys.readouterr()
    assert out == ""
    assert "backups: keep a copy now, it is not shown again" in err
    assert "\x1b" not in err and "ab" in err and "cd" in err
