"""The shipped steps are well-formed data: the catalog order, guards, handlers, checks."""

from __future__ import annotations

from wizard.catalog import load_catalog
from wizard.checks import load_all_checks
from wizard.checks.base import REGISTRY

CATALOG = load_catalog()


def test_day_one_steps_come_first_in_series_order():
    assert CATALOG.ids()[:5] == ("base", "admin-user", "ssh-hardening", "firewall", "fail2ban")


def test_every_command_has_a_guard_so_a_second_apply_is_a_no_op():
    for step in CATALOG.steps:
        for command in step.commands:
            assert command.creates or command.unless, f"{step.id}: {command.run[:40]}"


def test_steps_that_can_lock_out_are_guarded():
    assert CATALOG.get("ssh-hardening").guard == "lockout"
    assert CATALOG.get("firewall").guard == "lockout"


def test_every_notified_service_has_a_handler_and_every_check_exists():
    load_all_checks()
    for step in CATALOG.steps:
        for spec in step.files:
            for service in spec.notify:
                assert service in step.handlers, f"{step.id}: {service}"
        for check in step.checks:
            assert check.id in REGISTRY, f"{step.id}: {check.id}"


def test_every_step_cites_its_chapters_and_explains_itself():
    for step in CATALOG.steps:
        assert step.chapters and len(step.help) > 80, step.id
        for question in step.questions:
            assert question.prompt and question.help, f"{step.id}.{question.name}"
