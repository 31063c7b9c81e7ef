"""Verification checks, by area. Importing an area module registers its checks.

Which module registers which check is declared in wizard/checks/manifest.py, so a run imports
only the areas of the checks it will run (`load_checks`): the startup does not pay for the
others' imports (TLS scanners, DNS, SMTP clients).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from wizard.checks.manifest import AREAS, areas_of


def load_checks(check_ids: Iterable[str]) -> None:
    """Import the area modules that register these checks (an unknown id imports nothing)."""
    for area in areas_of(check_ids):
        importlib.import_module(f"wizard.checks.{area}")


def load_all_checks() -> None:
    """Import every area module so that all checks are registered."""
    for area in AREAS:
        importlib.import_module(f"wizard.checks.{area}")
