"""The types of a check's rendered parameters, checked before the check runs.

At load the catalog checks only the names of a step's `[[checks]]` params (they are Jinja
expressions); their values exist once verify renders them. A value of the wrong type then gives
a fail result that names the parameter and the step's expression to fix, instead of an
exception deep in the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from wizard.checks.base import CheckResult, fail
from wizard.checks.manifest import MANIFEST, ParamType


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, jinja2.Undefined)


def _fits(kind: ParamType, value: Any) -> bool:
    if kind is ParamType.BOOL:
        return isinstance(value, bool)
    if kind is ParamType.INTEGER:
        if isinstance(value, str):
            return value.strip().lstrip("-").isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    # Text is anything a check can write as text (a name, a number, an address), not a
    # collection: a list where one name is expected is a step's mistake.
    scalar = not isinstance(value, list | tuple | set | dict | bool)
    if kind is ParamType.TEXT:
        return scalar
    return isinstance(value, list | tuple) and all(
        not isinstance(item, list | tuple | set | dict) for item in value
    )


def param_problems(check_id: str, params: Mapping[str, Any]) -> list[str]:
    """What is wrong with a check's rendered parameters: a required one empty, a wrong type."""
    decl = MANIFEST.get(check_id)
    if decl is None:
        return []
    problems = []
    for param in decl.params:
        value = params.get(param.name)
        if _missing(value) or value == "":
            if param.required and (_missing(value) or param.type is not ParamType.TEXT):
                problems.append(f"'{param.name}' has no value (expected {param.type.value})")
        elif not _fits(param.type, value):
            problems.append(
                f"'{param.name}' is {type(value).__name__} {value!r}: expected {param.type.value}"
            )
    return problems


def param_failure(check_id: str, params: Mapping[str, Any]) -> CheckResult | None:
    """A fail result when the rendered parameters do not fit the check, None when they do."""
    problems = param_problems(check_id, params)
    if not problems:
        return None
    return fail(
        check_id,
        "the step gives this check a wrong parameter: " + "; ".join(problems),
        hint="fix the expression of that parameter in the step's [[checks]] (docs/steps.md "
        "lists each check's parameters)",
    )
