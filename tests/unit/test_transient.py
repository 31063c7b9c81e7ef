"""Every command the engine gives systemd-run is made of words a daemon-reload gives back
(wizard.transient; tests/host/test_transient.py shows systemd keeping them)."""

from __future__ import annotations

import ast
import re
import shlex
import string
from pathlib import Path

import pytest

from wizard.transient import PLAIN_WORD, TransientCommandError, systemd_run

REPO = Path(__file__).resolve().parents[2]
ENGINE = sorted((REPO / "wizard").rglob("*.py")) + sorted((REPO / "screens").rglob("*.py"))
# systemd-run where the shell reads a command: a line's start, after ; & | ( or $( ; not in
# a message that names it.
COMMAND_USE = re.compile(r"(?:^|[\n;&|(])\s*systemd-run\s")
PLAIN_CHARACTERS = string.ascii_letters + string.digits + "_./:=@+,-"
# Every other character a word could carry: punctuation, blanks, controls, beyond ASCII.
OTHER_CHARACTERS = sorted(
    {*string.printable, *map(chr, range(32)), "\x7f", "é", "\u2028"} - set(PLAIN_CHARACTERS)
)


@pytest.mark.parametrize("character", OTHER_CHARACTERS, ids=repr)
def test_a_word_with_any_other_character_is_refused(character):
    with pytest.raises(TransientCommandError):
        systemd_run(("--quiet",), ("/bin/sh", f"/var/lib/x{character}y/start.sh"))
    with pytest.raises(TransientCommandError):
        systemd_run((f"--unit=a{character}",), ("/bin/true",))


def test_plain_words_pass_as_one_word_each():
    word = "--x=" + PLAIN_CHARACTERS
    command = systemd_run(("--quiet", "--on-active=120"), ("/bin/rm", "-f", word))
    words = ["systemd-run", "--quiet", "--on-active=120", "/bin/rm", "-f", word]
    assert shlex.split(str(command)) == words
    assert all(PLAIN_WORD.fullmatch(c) for c in PLAIN_CHARACTERS)


@pytest.mark.parametrize("command", [(), ("sh", "x.sh"), ("",)], ids=repr)
def test_the_program_is_an_absolute_path(command):
    with pytest.raises(TransientCommandError, match="absolute program"):
        systemd_run(("--quiet",), command)


def _strings(tree: ast.AST):
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(REPO)))
def test_only_wizard_transient_writes_systemd_run(path):
    if path.name == "transient.py":
        return
    tree = ast.parse(path.read_text(), str(path))
    offenders = [
        f"{path.name}:{node.lineno}" for node in _strings(tree) if COMMAND_USE.search(node.value)
    ]
    assert offenders == [], "build the command with wizard.transient.systemd_run"


def test_no_step_command_calls_systemd_run():
    steps = sorted((REPO / "templates").glob("*/step.toml"))
    assert steps
    offenders = [str(p.relative_to(REPO)) for p in steps if COMMAND_USE.search(p.read_text())]
    assert offenders == []
