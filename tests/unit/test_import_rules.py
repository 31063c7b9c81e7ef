"""The layering rules, held by a test rather than described: the engine (wizard/) never imports
Textual or the screens, not even inside a function; the screens never import paramiko or the
connector (wizard.remote): they drive the engine's Session and show its values."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending(folder: str, forbidden: tuple[str, ...], root: Path = ROOT) -> dict[str, list[str]]:
    """The files under `folder` that import a forbidden module (or something inside it)."""
    found = {}
    for path in sorted((root / folder).rglob("*.py")):
        bad = sorted(
            name
            for name in imported_modules(path)
            if any(name == rule or name.startswith(rule + ".") for rule in forbidden)
        )
        if bad:
            found[str(path.relative_to(root))] = bad
    return found


def test_the_engine_never_imports_the_tui():
    assert offending("wizard", ("textual", "rich", "screens")) == {}


def test_the_screens_never_talk_ssh():
    assert (
        offending("screens", ("paramiko", "wizard.remote", "wizard.connector", "wizard.recorded"))
        == {}
    )


@pytest.mark.parametrize(
    ("source", "folder", "forbidden"),
    [
        ("def f():\n    from screens.app import run_tui\n", "wizard", ("screens",)),
        ("import textual.app\n", "wizard", ("textual",)),
        ("from wizard.remote import Stats\n", "screens", ("wizard.remote",)),
        ("from wizard import remote\n", "screens", ("wizard.remote",)),
        ("import paramiko\n", "screens", ("paramiko",)),
    ],
)
def test_the_rules_see_every_form_of_import(source, folder, forbidden, tmp_path):
    # The same scan on a tree holding one offending file: the rule is not vacuous.
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "bad.py").write_text(source)
    assert list(offending(folder, forbidden, tmp_path)) == [f"{folder}/bad.py"]
