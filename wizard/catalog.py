"""Loads the step definitions: the shipped ones and the user's own, both as step.toml folders."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

from wizard import stepschema
from wizard.errors import WizardError
from wizard.steps import Role, Step


def shipped_steps_dir() -> Path:
    """The folder of the step definitions that ship with the package."""
    return Path(str(resources.files("vps_wizard_templates")))


def user_steps_dir() -> Path:
    """Where a user drops their own step folders."""
    return platformdirs.user_config_path("vps-wizard") / "steps"


def parse_cache_path() -> Path:
    """Where what tomllib made of each step file is kept (see ParseCache)."""
    return platformdirs.user_cache_path("vps-wizard") / "step-files.json"


class ParseCache:
    """What tomllib made of each step file, by the SHA-256 of the file's text.

    Parsing the TOML is most of loading the catalog (15 to 35 ms of 25 to 45 for 22 steps on
    this project's machine); the schema check and the build still run on every load, so a
    newer wizard judges every step by its own rules. Only the parse of the text read now is
    taken from the cache: an entry of another text has another digest. Anything that is not
    what this class wrote (not JSON, another version, an entry that is no table) is ignored and
    the file parsed. Whoever can write the user's cache can write the user's steps folder,
    whose steps replace the shipped ones anyway; render.py keeps Jinja's compiled templates in
    the same folder.
    """

    # tomllib's result for a text could only change with Python.
    VERSION = f"1 python{sys.version_info[0]}.{sys.version_info[1]}"

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, Any] = self._read(path) if path is not None else {}
        self.used: set[str] = set()
        self.changed = False

    @classmethod
    def _read(cls, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != cls.VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def loads(self, text: str) -> dict[str, Any]:
        """tomllib.loads(text), from the cache when it holds this text's parse."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        self.used.add(digest)
        cached = self.entries.get(digest)
        if isinstance(cached, dict):
            return cached
        data = tomllib.loads(text)
        # Kept only when JSON gives it back the same (a TOML date, say, it would not).
        try:
            same = json.loads(json.dumps(data)) == data
        except (TypeError, ValueError):
            same = False
        if same:
            self.entries[digest] = data
            self.changed = True
        return data

    def save(self) -> None:
        """Write the entries of the files read this time (others' go), when any is new; a
        cache that cannot be written is no error (the next load parses again)."""
        if self.path is None or not (self.changed or self.used != set(self.entries)):
            return
        kept = {digest: self.entries[digest] for digest in self.used if digest in self.entries}
        text = json.dumps({"version": self.VERSION, "entries": kept})
        part = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            part.write_text(text)
            os.replace(part, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                part.unlink()


def load_step(folder: Path, cache: ParseCache | None = None) -> tuple[int, Step]:
    """Load one step folder, checked against the schema; returns its catalog order and the Step.

    A file that is not TOML, or holds an unknown field or value, is refused with its lines
    (wizard/stepschema.py): a typo must never silently drop a setting such as the lockout guard.
    """
    toml_path = folder / "step.toml"
    text = toml_path.read_text()
    try:
        data = (cache or ParseCache(None)).loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WizardError(
            f"the step definition {toml_path} is not valid TOML: {error}",
            "fix that line, or remove the folder",
        ) from None
    problems = stepschema.problems_of(data) or stepschema.missing_files(data, folder)
    if problems:
        raise stepschema.refuse(toml_path, text, problems)
    return int(data.get("order", 1000)), stepschema.step_from_toml(data, str(folder))


@dataclass(frozen=True)
class Catalog:
    """All known steps, in the order a new server goes through them."""

    steps: tuple[Step, ...]

    def get(self, step_id: str) -> Step:
        """The step with that id, or a WizardError listing the known ones."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise WizardError(f"there is no step '{step_id}'", f"known steps: {', '.join(self.ids())}")

    def provider(self, role: Role) -> Step | None:
        """The step whose answers fill `role` (the first in catalog order), if any."""
        return next((step for step in self.steps if role in step.provides), None)

    def ids(self) -> tuple[str, ...]:
        """The step ids in catalog order."""
        return tuple(step.id for step in self.steps)


def load_catalog(extra_dirs: Iterable[Path] = ()) -> Catalog:
    """Read the shipped steps, then the user's (a user step may replace a shipped one by id)."""
    found: dict[str, tuple[int, Step]] = {}
    cache = ParseCache(parse_cache_path())
    for root in (shipped_steps_dir(), user_steps_dir(), *extra_dirs):
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if (folder / "step.toml").is_file():
                order, step = load_step(folder, cache)
                found[step.id] = (order, step)
    cache.save()
    for _, step in found.values():
        stepschema.check_requires(Path(step.source_dir) / "step.toml", step, found)
    ordered = sorted(found.values(), key=lambda pair: (pair[0], pair[1].id))
    return Catalog(tuple(step for _, step in ordered))
