"""What the engine needs from other steps (the admin, sshd's port, the firewall's extra ports,
the site's domain, the server's name) is read by role, from the step that provides it: a user
step may provide a role, and a typo in one is refused at load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wizard.answers import Answers
from wizard.catalog import Catalog, load_catalog
from wizard.errors import WizardError
from wizard.plan import Plan
from wizard.roles import ipv6_address, second_admin, site_domain
from wizard.state import HostRecord, StepRecord
from wizard.steps import Role

USER_ADMIN_STEP = """id = "my-admin"
title = "My admin"
provides = { admin_user = "login" }

[[questions]]
name = "login"
type = "username"
prompt = "Login"
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_role_is_provided_by_one_shipped_step(catalog):
    providers = {role: catalog.provider(role) for role in Role}
    assert {role: step.id for role, step in providers.items() if step} == {
        Role.ADMIN_USER: "admin-user",
        Role.SSHD_PORT: "ssh-hardening",
        Role.EXTRA_PORTS: "firewall",
        Role.SITE_DOMAIN: "vhost",
        Role.HOST_NAME: "base",
        Role.IPV6_ADDRESS: "ipv6",
    }


def test_the_site_domain_comes_from_the_provider_else_the_servers_name(catalog):
    assert site_domain(catalog, {"base": {"fqdn": "vps.example.org"}}) == "example.org"
    steps = {"base": {"fqdn": "vps.example.org"}, "vhost": {"domain": "shop.example"}}
    assert site_domain(catalog, steps) == "shop.example"
    assert site_domain(catalog, {}) == ""


def test_the_ipv6_address_comes_from_the_step_that_provides_it(catalog):
    assert ipv6_address(catalog, {"ipv6": {"address": "2001:db8::2", "prefix_length": 64}}) == (
        "2001:db8::2"
    )
    assert ipv6_address(catalog, {"base": {"fqdn": "vps.example.org"}}) == ""


def test_a_user_step_providing_the_admin_is_read_by_role(tmp_path: Path):
    folder = tmp_path / "my-admin"
    folder.mkdir()
    (folder / "step.toml").write_text(USER_ADMIN_STEP)
    catalog = load_catalog([tmp_path])
    step = catalog.get("my-admin")
    plan = Plan(step, Answers(step.id, {"login": "bob"}), (), (), ("sudo",), (), step.packages)
    record = StepRecord("my-admin", "applied", {"login": "alice"})
    host = HostRecord("SHA256:k", "192.0.2.10", 22, steps={"my-admin": record})
    assert "bob would be added as a second admin" in second_admin(host, plan)
    assert "alice stays an admin" in second_admin(host, plan)


def test_a_step_without_the_role_never_warns_of_a_second_admin(catalog):
    step = dataclasses.replace(catalog.get("admin-user"), provides={})
    plan = Plan(step, Answers(step.id, {"username": "bob"}), (), (), ("sudo",), (), step.packages)
    host = HostRecord("SHA256:k", "192.0.2.10", 22, admin_user="alice")
    assert second_admin(host, plan) == ""


@pytest.mark.parametrize(
    ("provides", "expected"),
    [
        ('{ admin_usr = "login" }', "'admin_usr' is no role; did you mean 'admin_user'?"),
        ('{ admin_user = "logn" }', "the step has no question 'logn'; did you mean 'login'?"),
    ],
)
def test_a_wrong_role_or_question_is_refused_at_load(tmp_path: Path, provides, expected):
    folder = tmp_path / "my-admin"
    folder.mkdir()
    text = USER_ADMIN_STEP.replace('{ admin_user = "login" }', provides)
    (folder / "step.toml").write_text(text)
    with pytest.raises(WizardError) as refused:
        load_catalog([tmp_path])
    assert f"{folder / 'step.toml'}:3: provides" in str(refused.value)
    assert expected in str(refused.value)
