"""The README's step tables name every step of the catalog, once, in the catalog's order within
each table: a step added without its row (or a row left for a step gone) fails here."""

from __future__ import annotations

import re
from pathlib import Path

from wizard.catalog import load_catalog

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `([a-z0-9-]+)` \|", re.MULTILINE)


def test_every_step_has_one_row_in_the_readme() -> None:
    rows = ROW.findall(README.read_text())
    catalog = [step.id for step in load_catalog().steps]
    assert sorted(rows) == sorted(catalog)
    assert len(catalog) == 22


def test_the_rows_follow_the_catalogs_order_within_each_table() -> None:
    position = {step.id: n for n, step in enumerate(load_catalog().steps)}
    for table in re.split(r"\n\n+", README.read_text()):
        ids = ROW.findall(table)
        assert ids == sorted(ids, key=position.__getitem__), ids
