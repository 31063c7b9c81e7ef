"""Loads the step definitions: the shipped ones and the user's own, both as step.toml folders."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

from wizard.errors import WizardError
from wizard.steps import CheckSpec, Command, FileSpec, Question, Refusal, Step


def shipped_steps_dir() -> Path:
    """The folder of the step definitions that ship with the package."""
    return Path(str(resources.files("vps_wizard_templates")))


def user_steps_dir() -> Path:
    """Where a user drops their own step folders."""
    return platformdirs.user_config_path("vps-wizard") / "steps"


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in (value or ()))


def _step_from_toml(folder: Path, data: Mapping[str, Any]) -> Step:
    return Step(
        id=data["id"],
        title=data["title"],
        help=data.get("help", "").strip(),
        chapters=str(data.get("chapters", "")),
        requires=_tuple(data.get("requires")),
        applies_to=_tuple(data.get("applies_to", ("debian", "ubuntu"))),
        questions=tuple(
            Question(
                name=q["name"],
                type=q["type"],
                prompt=q["prompt"],
                help=q.get("help", "").strip(),
                default=q.get("default"),
                choices=_tuple(q.get("choices")),
                secret=bool(q.get("secret", False)),
                required=bool(q.get("required", True)),
                when=q.get("when"),
                choices_from=q.get("choices_from"),
            )
            for q in data.get("questions", ())
        ),
        packages=_tuple(data.get("packages")),
        files=tuple(
            FileSpec(
                template=f["template"],
                dest=f["dest"],
                mode=str(f.get("mode", "0644")),
                owner=f.get("owner", "root"),
                group=f.get("group", "root"),
                validate=f.get("validate"),
                validate_in=f.get("validate_in"),
                secret=bool(f.get("secret", False)),
                notify=_tuple(f.get("notify")),
                when=f.get("when"),
                compare=f.get("compare"),
                for_each=f.get("for_each"),
            )
            for f in data.get("files", ())
        ),
        commands=tuple(
            Command(
                run=c["run"],
                stage=c.get("stage", "after"),
                creates=c.get("creates"),
                unless=c.get("unless"),
                when=c.get("when"),
                timeout=int(c.get("timeout", 900)),
            )
            for c in data.get("commands", ())
        ),
        handlers=dict(data.get("handlers", {})),
        enable=_tuple(data.get("enable")),
        ports=_tuple(data.get("ports")),
        depends_on_ports=bool(data.get("depends_on_ports", False)),
        depends_on_packages=tuple(data.get("depends_on_packages", ())),
        guard=data.get("guard"),
        checks=tuple(
            CheckSpec(id=c["id"], params=dict(c.get("params", {}))) for c in data.get("checks", ())
        ),
        source_dir=str(folder),
        refusals=tuple(
            Refusal(r["question"], r["when"], r["reason"], r.get("hint", ""))
            for r in data.get("refuse", ())
        ),
    )


def load_step(folder: Path) -> tuple[int, Step]:
    """Load one step folder; returns its catalog order and the Step."""
    toml_path = folder / "step.toml"
    try:
        data = tomllib.loads(toml_path.read_text())
        return int(data.get("order", 1000)), _step_from_toml(folder, data)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise WizardError(
            f"the step definition {toml_path} is broken: {error!r}",
            "fix or remove that folder",
        ) from None


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
    ordered = sorted(found.values(), key=lambda pair: (pair[0], pair[1].id))
    return Catalog(tuple(step for _, step in ordered))
