"""Which applied steps another step's apply makes outdated: the firewall when it opens ports,
a step whose files follow a package it installs (fail2ban's postfix-auth jail and Postfix),
and a step whose answer followed a default made from this step's answers (the zone's AAAA
from the ipv6 step's address, the mail name from the site's domain)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from wizard.answers import parse_answer
from wizard.catalog import Catalog
from wizard.errors import AnswerError
from wizard.facts import Facts
from wizard.state import APPLIED, HostRecord
from wizard.stepcontext import default_value, ports_of
from wizard.steps import Question, Step

# What a step's defaults are evaluated in, for a record of the host.
DefaultsContext = Callable[[HostRecord, Step], Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class Outdated:
    """Why an applied step must be applied again, and the answers it is planned with then."""

    reason: str
    # Answers that followed a default which now says otherwise, as the form would show them
    # (the step's other answers stay as recorded).
    answers: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def outdated_by(
    catalog: Catalog,
    host: HostRecord,
    facts: Facts,
    step_id: str,
    before: HostRecord | None = None,
    context: DefaultsContext | None = None,
) -> dict[str, Outdated]:
    """The applied steps whose input this step changes, each with the reason.

    `before` is the host's record before this step's answers changed, and `context` what
    defaults are evaluated in: with both, a step whose answer followed a default that this
    step's new answers move is outdated too, planned with the new default.
    """
    step = catalog.get(step_id)
    moved = moved_defaults(catalog, before, host, step_id, context) if before and context else {}
    reasons: dict[str, Outdated] = {}
    for other in catalog.steps:
        if other.id == step_id or host.step(other.id).status not in APPLIED:
            continue
        installed = sorted(set(step.any_packages) & set(other.depends_on_packages))
        if step.ports and other.depends_on_ports:
            ports = ports_of(step, host.step(step_id).answers, facts)
            reasons[other.id] = Outdated(f"{step_id} needs {', '.join(ports)}")
        elif installed:
            reasons[other.id] = Outdated(f"{step_id} installed {', '.join(installed)}")
        elif other.id in moved:
            names = ", ".join(sorted(moved[other.id]))
            reason = f"{step_id} changed what {other.id}'s {names} follows"
            reasons[other.id] = Outdated(reason, answers=moved[other.id])
    return reasons


def moved_defaults(
    catalog: Catalog,
    before: HostRecord,
    after: HostRecord,
    step_id: str,
    context: DefaultsContext,
) -> dict[str, dict[str, Any]]:
    """The applied steps with an answer equal to what its default said before `step_id`'s
    answers changed, when the default now says otherwise: each with those answers as the
    default says now.

    An answer the user typed differently from the default is theirs and is left alone.
    """
    if before.step(step_id).answers == after.step(step_id).answers:
        return {}
    moved: dict[str, dict[str, Any]] = {}
    for other in catalog.steps:
        record = after.step(other.id)
        if other.id == step_id or record.status not in APPLIED:
            continue
        defaulted = [q for q in other.questions if q.default is not None and not q.secret]
        if not defaulted:
            continue
        then, now = context(before, other), context(after, other)
        for question in defaulted:
            if question.name not in record.answers:
                continue
            old = default_value(other, question, then)
            new = default_value(other, question, now)
            if old != new and _same(question, old, record.answers[question.name]):
                moved.setdefault(other.id, {})[question.name] = new
    return moved


def _same(question: Question, default: Any, answer: Any) -> bool:
    """Whether the recorded answer is what the default gave."""
    try:
        return parse_answer(question, default) == answer
    except AnswerError:
        return False
