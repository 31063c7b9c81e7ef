"""Applying admin-user again with another name is said before it happens: a second admin is
added (the first stays) and the wizard logs in as the new one from then on."""

from __future__ import annotations

import pytest

from wizard.answers import Answers
from wizard.catalog import Catalog, load_catalog
from wizard.plan import Plan
from wizard.roles import second_admin
from wizard.state import HostRecord, StepRecord


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def admin_plan(catalog: Catalog, username: str, changes: bool = True) -> Plan:
    step = catalog.get("admin-user")
    return Plan(
        step,
        Answers(step.id, {"username": username}),
        (),
        (),
        ("sudo",) if changes else (),
        (),
        step.packages,
    )


def host(admin: str = "", applied_as: str = "") -> HostRecord:
    steps = {}
    if applied_as:
        steps["admin-user"] = StepRecord("admin-user", "verified", {"username": applied_as})
    return HostRecord("SHA256:k", "192.0.2.10", 22, admin_user=admin, steps=steps)


def test_another_name_is_a_second_admin_and_the_new_login(catalog):
    said = second_admin(host("alice", "alice"), admin_plan(catalog, "bob"))
    assert "bob would be added as a second admin" in said
    assert "alice stays an admin" in said
    assert "log in as bob from then on instead of alice" in said


def test_the_applied_steps_answer_counts_when_no_admin_is_recorded(catalog):
    said = second_admin(host(applied_as="alice"), admin_plan(catalog, "bob"))
    assert "alice stays an admin" in said


@pytest.mark.parametrize(
    ("record", "username", "changes"),
    [
        (host(), "bob", True),  # the first admin: nothing to warn about
        (host("alice", "alice"), "alice", True),  # the same admin again
        (host("alice", "alice"), "bob", False),  # nothing would change on the server
    ],
)
def test_nothing_is_said_when_the_login_stays(catalog, record, username, changes):
    assert second_admin(record, admin_plan(catalog, username, changes)) == ""


def test_other_steps_never_say_it(catalog):
    step = catalog.get("base")
    plan = Plan(step, Answers(step.id, {"username": "bob"}), (), (), ("sudo",), (), step.packages)
    assert second_admin(host("alice", "alice"), plan) == ""
