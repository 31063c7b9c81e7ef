"""What a step's templates, defaults and check parameters are rendered from: the server's
facts, the other steps' answers, this machine's key, and the ports the firewall must open."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wizard.answers import answer_as_text
from wizard.catalog import Catalog
from wizard.errors import WizardError
from wizard.facts import Facts
from wizard.render import evaluate, render_string
from wizard.roles import ipv6_address, site_domain
from wizard.state import APPLIED, HostRecord
from wizard.steps import Question, Role, Step


def ports_of(step: Step, answers: Mapping[str, Any], facts: Facts) -> list[str]:
    """The ports a step declares, rendered with its answers ("2222/tcp"); none when its
    answers do not render them (a step never applied)."""
    try:
        context = {"answers": answers, "facts": facts.as_template_context()}
        return [render_string(step, port, context) for port in step.ports]
    except WizardError:
        return []


def open_ports(
    catalog: Catalog, host: HostRecord, facts: Facts, step: Step, answers: Mapping[str, Any]
) -> tuple[str, ...]:
    """The ports the firewall must let in: SSH as sshd serves it now, the applied steps'
    (this one with these answers), and the extra ports of the step that provides them."""
    ports = [f"{facts.ssh_port}/tcp"]
    for other in catalog.steps:
        record = host.step(other.id)
        if other.id != step.id and record.status not in APPLIED:
            continue
        ports += ports_of(other, answers if other.id == step.id else record.answers, facts)
    extra = catalog.provider(Role.EXTRA_PORTS)
    if extra is not None:
        given = answers if extra.id == step.id else host.step(extra.id).answers
        ports += list(extra.role_answer(Role.EXTRA_PORTS, given) or ())
    return tuple(dict.fromkeys(ports))


def template_context(
    catalog: Catalog,
    host: HostRecord,
    facts: Facts,
    local_key: str,
    step: Step,
    answers: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What templates, defaults and check parameters see."""
    steps = {sid: dict(rec.answers) for sid, rec in host.steps.items() if rec.answers}
    if answers is not None:
        steps[step.id] = dict(answers)
    return {
        "answers": dict(answers or {}),
        "facts": facts.as_template_context(),
        "steps": steps,
        "local": {"ssh_pubkey": local_key},
        "open_ports": open_ports(catalog, host, facts, step, answers or {}),
        "site_domain": site_domain(catalog, steps),
        "ipv6_address": ipv6_address(catalog, steps),
    }


def default_answers(
    step: Step, previous: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """Raw answers to start the form with: the last ones given, else the step's defaults
    (evaluated in `context`); secrets always empty."""
    defaults: dict[str, Any] = {}
    for question in step.questions:
        if question.secret:
            defaults[question.name] = ""
        elif question.name in previous:
            value = previous[question.name]
            # A list or table as the text its parser reads back (a form shows it).
            defaults[question.name] = (
                answer_as_text(question, value) if isinstance(value, list) else value
            )
        elif question.default is not None:
            defaults[question.name] = default_value(step, question, context)
        else:
            defaults[question.name] = ""
    return defaults


def default_value(step: Step, question: Question, context: Mapping[str, Any]) -> Any:
    """The question's default evaluated in `context`, as a form shows it: a list as the text
    its parser reads back, nothing as an empty answer."""
    value = evaluate(step, str(question.default), context)
    if isinstance(value, list | tuple):
        return answer_as_text(question, value)
    return "" if value is None else value
