"""The catalog keeps what tomllib made of each step file in the user's cache: the same catalog
comes back without parsing, an edited file is parsed again, and no entry skips the schema."""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from wizard import catalog
from wizard.catalog import ParseCache, load_catalog, parse_cache_path, shipped_steps_dir
from wizard.errors import WizardError


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's cache and config folders in tmp_path (no user steps)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """tomllib.loads as the catalog calls it, counting the texts it is given."""
    parsed: list[str] = []
    real = tomllib.loads

    def counting(text: str, **kwargs: Any) -> dict[str, Any]:
        parsed.append(text)
        return real(text, **kwargs)

    monkeypatch.setattr(catalog.tomllib, "loads", counting)
    return parsed


def test_the_second_load_parses_nothing_and_gives_the_same_catalog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = load_catalog()
    assert parse_cache_path().is_file()
    parsed = no_parsing(monkeypatch)
    assert load_catalog() == first
    assert parsed == []


def test_an_edited_step_file_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "extra"
    shutil.copytree(shipped_steps_dir() / "entropy", extra / "entropy")
    toml = extra / "entropy" / "step.toml"
    assert load_catalog([extra]).get("entropy").title == (load_catalog().get("entropy").title)
    toml.write_text(toml.read_text().replace('title = "', 'title = "Edited: ', 1))
    parsed = no_parsing(monkeypatch)
    assert load_catalog([extra]).get("entropy").title.startswith("Edited: ")
    assert parsed == [toml.read_text()]


@pytest.mark.parametrize(
    "damage",
    [
        b"not json",
        b'{"version": "0 python2.7", "entries": {}}',
        b"[1, 2]",
    ],
)
def test_a_cache_that_is_not_what_the_wizard_wrote_is_ignored(damage: bytes) -> None:
    expected = load_catalog()
    parse_cache_path().write_bytes(damage)
    assert load_catalog() == expected
    # ... and written again as it should be.
    assert json.loads(parse_cache_path().read_bytes())["version"] == ParseCache.VERSION


def test_an_entry_is_checked_against_the_schema_as_a_file_would_be(tmp_path: Path) -> None:
    # An entry under the digest of a real step file, holding what that file does not say: it
    # is still checked, and refused with the file's name, like the file itself would be.
    load_catalog()
    text = (shipped_steps_dir() / "entropy" / "step.toml").read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    cached = json.loads(parse_cache_path().read_bytes())
    cached["entries"][digest]["lockout_guard_typo"] = True
    parse_cache_path().write_text(json.dumps(cached))
    with pytest.raises(WizardError, match=r"entropy/step\.toml"):
        load_catalog()


def test_a_cache_that_cannot_be_written_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert load_catalog().get("base").id == "base"
    assert blocked.read_text() == "a file where the cache folder would be"
