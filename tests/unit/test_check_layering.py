"""The checks' layering, enforced: a check area (a module of wizard/checks that registers checks)
imports no other area; what two areas share lives in a probe (wizard/probes/), in a shared
module of wizard/checks that registers nothing (base, params, verdicts...), or beside the engine
(wizard/spf.py, wizard/dkim.py). Probes look and never judge: they import no check module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "wizard" / "checks"
PROBES = ROOT / "wizard" / "probes"


def registers_checks(tree: ast.Module) -> bool:
    """Whether a module registers a check: a function decorated with `@check(...)`."""
    return any(
        isinstance(node, ast.FunctionDef)
        and any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "check"
            for d in node.decorator_list
        )
        for node in ast.walk(tree)
    )


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module a source imports, `from wizard.checks import web` read as wizard.checks.web."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def areas() -> dict[str, ast.Module]:
    """The check area modules, by name, parsed."""
    trees = {path.stem: ast.parse(path.read_text()) for path in CHECKS.glob("*.py")}
    return {name: tree for name, tree in trees.items() if registers_checks(tree)}


def area_imports(name: str, tree: ast.Module, area_names: set[str]) -> list[str]:
    """The other areas a module imports, as 'web imports wizard.checks.ssh'."""
    return sorted(
        f"{name} imports {module}"
        for module in imported_modules(tree)
        if module.removeprefix("wizard.checks.") in area_names - {name}
        and module.startswith("wizard.checks.")
    )


def test_the_areas_are_found():
    # Guards the test itself: were the areas not recognised, nothing below would be checked.
    assert {"ssh", "web", "tls", "hsts", "mail", "mail_auth", "dns", "dane"} <= set(areas())
    assert not {"base", "params", "verdicts", "fail2ban_regex"} & set(areas())


def test_a_cross_import_is_caught():
    source = "from wizard.checks.ssh import server_host\nfrom wizard.checks import tls\n"
    found = area_imports("web", ast.parse(source), {"web", "ssh", "tls"})
    assert found == ["web imports wizard.checks.ssh", "web imports wizard.checks.tls"]


@pytest.mark.parametrize("path", sorted(CHECKS.glob("*.py")), ids=lambda p: p.name)
def test_no_check_module_imports_an_area(path: Path):
    """Neither an area nor a shared check module imports an area (a shared one that did would
    let an area reach another through it)."""
    names = set(areas())
    assert area_imports(path.stem, ast.parse(path.read_text()), names) == [], (
        "move what is shared into wizard/probes/ (what is seen) or a shared module of "
        "wizard/checks/ that registers no check (what is judged)"
    )


@pytest.mark.parametrize("path", sorted(PROBES.glob("*.py")), ids=lambda p: p.name)
def test_probes_import_no_check(path: Path):
    modules = imported_modules(ast.parse(path.read_text()))
    assert not [m for m in modules if m.startswith("wizard.checks")], (
        f"{path.name}: a probe reports what it saw; the verdict belongs to a check"
    )
