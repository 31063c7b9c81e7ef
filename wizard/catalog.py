"""Loads the step definitions: the shipped ones and the user's own, both as step.toml folders."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

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


def load_step(folder: Path) -> tuple[int, Step]:
    """Load one step folder, checked against the schema; returns its catalog order and the Step.

    A file that is not TOML, or holds an unknown field or value, is refused with its lines
    (wizard/stepschema.py): a typo must never silently drop a setting such as the lockout guard.
    """
    toml_path = folder / "step.toml"
    text = toml_path.read_text()
    try:
        data = tomllib.loads(text)
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
    for root in (shipped_steps_dir(), user_steps_dir(), *extra_dirs):
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if (folder / "step.toml").is_file():
                order, step = load_step(folder)
                found[step.id] = (order, step)
    for _, step in found.values():
        stepschema.check_requires(Path(step.source_dir) / "step.toml", step, found)
    ordered = sorted(found.values(), key=lambda pair: (pair[0], pair[1].id))
    return Catalog(tuple(step for _, step in ordered))
