"""The rules that keep data out of shell code hold in the source, not by each author's care.

- `sh()` and `code()` take a literal template: an f-string, a concatenation or a variable
  there would paste data into code before the quoting could see it.
- `Shell(...)` is made only inside wizard/shell.py (elsewhere only from a literal).
- `Remote.run` is called with Shell: the type checker holds that (tests/unit/test_types.py);
  at run time a str is refused.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from wizard.shell import Shell, ShellContextError, code, sh

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "wizard").rglob("*.py")) + sorted((REPO / "screens").rglob("*.py"))


def _calls(tree: ast.AST, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == name:
                yield node


def _is_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_shell_templates_are_literals(path):
    tree = ast.parse(path.read_text(), str(path))
    offenders = []
    for name in ("sh", "code"):
        for call in _calls(tree, name):
            if not call.args or not _is_literal(call.args[0]):
                offenders.append(f"{path.name}:{call.lineno} {name}() without a literal template")
    if path.name != "shell.py":
        for call in _calls(tree, "Shell"):
            if not call.args or not _is_literal(call.args[0]):
                offenders.append(f"{path.name}:{call.lineno} Shell() made from data")
    assert offenders == []


def test_a_string_is_refused_where_shell_is_expected():
    with pytest.raises(TypeError):
        code("echo ") + "$(id)"  # type: ignore[operator]
    with pytest.raises(TypeError):
        "$(id)" + code("echo ")  # type: ignore[operator]


@pytest.mark.parametrize(
    "template",
    [
        "echo '{v}'",
        'echo "{v}"',
        "echo ${{x:-{v}}}",
        "echo $(( {v} + 1 ))",
        "cat <<EOF\n{v}\nEOF\n",
        "cat <<'EOF'\n{v}\nEOF\n",
        'echo "$(echo "{v}")"',
    ],
)
def test_a_value_is_refused_anywhere_but_in_a_word(template):
    with pytest.raises(ShellContextError):
        sh(template, v="$(touch /tmp/x)")


@pytest.mark.parametrize(
    "value", ["o'brien", "$(id)", "`id`", "a b", "; rm -rf /", "\\", '"', "", "-n", "*"]
)
def test_a_value_reaches_the_command_as_one_literal_word(value, tmp_path):
    import subprocess

    line = sh("printf '[%s]' {v} $(printf %s {v})x \"$(printf %s {v})\"", v=value)
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # As a word and inside a command substitution in double quotes, the value is exact.
    assert out.stdout.startswith(f"[{value}]")
    assert out.stdout.endswith(f"[{value}]")
    assert list(tmp_path.iterdir()) == []


def test_shell_parts_join_without_becoming_text():
    joined = sh("a {x}", x=code("b")) + code(" c")
    assert isinstance(joined, Shell)
    assert joined == "a b c"


def test_the_connection_refuses_text_that_is_not_shell():
    from wizard.remote import Credentials, Remote, Stats, Target

    remote = Remote(None, Target("203.0.113.1"), "root", Credentials(), Stats(), "")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Shell"):
        remote.run("echo $(id)")  # type: ignore[arg-type]
