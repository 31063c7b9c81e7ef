"""Choices that depend on the server: a choice question's `choices_from` (a Jinja expression
over the facts, such as `facts.php_versions`) is computed once the facts are read, and the
question then offers and accepts only those. Before connecting (an answers file checked
offline) the step's static `choices` stand."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from wizard.catalog import Catalog
from wizard.errors import WizardError
from wizard.render import evaluate
from wizard.steps import Step


def offered_step(step: Step, facts: Mapping[str, Any]) -> Step:
    """The step with each `choices_from` question's choices computed from the facts.

    An empty list (apt never updated, so its cache names no package) keeps the static
    choices: the step's own refusals then say what the release has.
    """
    if not any(question.choices_from for question in step.questions):
        return step
    questions = []
    for question in step.questions:
        if question.choices_from:
            computed = evaluate(step, question.choices_from, {"facts": facts})
            if isinstance(computed, str) or not hasattr(computed, "__iter__"):
                raise WizardError(
                    f"{step.id}.{question.name}: choices_from gave {computed!r}, not a list",
                    "the step's choices_from must be an expression giving a list of texts",
                )
            choices = tuple(str(choice) for choice in computed)
            if choices:
                question = dataclasses.replace(question, choices=choices)
        questions.append(question)
    return dataclasses.replace(step, questions=tuple(questions))


def offered_catalog(catalog: Catalog, facts: Mapping[str, Any]) -> Catalog:
    """The catalog as this server offers it (see offered_step)."""
    return dataclasses.replace(catalog, steps=tuple(offered_step(s, facts) for s in catalog.steps))
