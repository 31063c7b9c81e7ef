"""Renders a step's templates and question defaults with Jinja (StrictUndefined)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
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


@contextlib.contextmanager
def _step_bug(step: Step, what: str) -> Iterator[None]:
    """A template error is a bug of the step definition: say which step and what failed."""
    try:
        yield
    except jinja2.TemplateError as error:
        raise WizardError(
            f"step {step.id}: {what} failed: {error}",
            "this is a bug in the step definition; report it with the step id",
        ) from None


def render_template(step: Step, template: str, context: Mapping[str, Any]) -> str:
    """Render one template file of the step."""
    with _step_bug(step, f"template {template}"):
        return environment(step).get_template(template).render(context)


def render_string(step: Step, text: str, context: Mapping[str, Any]) -> str:
    """Render a short template string (a command, a destination path, a check parameter)."""
    with _step_bug(step, f"'{text}'"):
        return environment(step).from_string(text).render(context)


def evaluate(step: Step, expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a Jinja expression (a question default, a `when` condition)."""
    with _step_bug(step, f"expression '{expression}'"):
        return environment(step).compile_expression(expression, undefined_to_none=False)(**context)
