"""Renders a step's templates and question defaults with Jinja (StrictUndefined)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from wizard.errors import WizardError
from wizard.steps import Step


def environment(step: Step) -> jinja2.Environment:
    """A Jinja environment reading the step's own folder; undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(step.source_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_template(step: Step, template: str, context: Mapping[str, Any]) -> str:
    """Render one template file of the step."""
    try:
        return environment(step).get_template(template).render(context)
    except jinja2.TemplateError as error:
        raise WizardError(
            f"step {step.id}: template {template} failed to render: {error}",
            "this is a bug in the step definition; report it with the step id",
        ) from None


def render_string(step: Step, text: str, context: Mapping[str, Any]) -> str:
    """Render a short template string (a command, a destination path, a check parameter)."""
    try:
        return environment(step).from_string(text).render(context)
    except jinja2.TemplateError as error:
        raise WizardError(
            f"step {step.id}: '{text}' failed to render: {error}",
            "this is a bug in the step definition; report it with the step id",
        ) from None


def evaluate(step: Step, expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a Jinja expression (a question default, a `when` condition)."""
    try:
        return environment(step).compile_expression(expression, undefined_to_none=False)(**context)
    except jinja2.TemplateError as error:
        raise WizardError(
            f"step {step.id}: expression '{expression}' failed: {error}",
            "this is a bug in the step definition; report it with the step id",
        ) from None
