"""An applied step's answer that followed a default made from another step's answers follows
it when those change: the zone's AAAA the ipv6 step's address, the mail names the site's
domain. An answer the user typed otherwise stays theirs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from wizard.catalog import Catalog, load_catalog
from wizard.facts import Facts
from wizard.followups import outdated_by
from wizard.state import HostRecord, StepRecord, StepState
from wizard.stepcontext import template_context
from wizard.steps import Step

FACTS = Facts("", "", "", "", "", "", "", "", (), (), "", 22, "", frozenset())
OLD_V6, NEW_V6 = "2001:db8::10", "2001:db8::20"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def applied(step_id: str, **answers: Any) -> StepRecord:
    return StepRecord(step_id, StepState.APPLIED, answers)


def host(*records: StepRecord) -> HostRecord:
    return HostRecord("k", "192.0.2.1", 22, steps={r.step_id: r for r in records})


def changed(record: HostRecord, step_id: str, **answers: Any) -> HostRecord:
    """The record after `step_id` was applied again with these answers changed."""
    step = dataclasses.replace(
        record.step(step_id), answers={**record.step(step_id).answers, **answers}
    )
    return dataclasses.replace(record, steps={**record.steps, step_id: step})


def reasons(catalog: Catalog, before: HostRecord, after: HostRecord, step_id: str):
    def context(record: HostRecord, step: Step) -> dict[str, Any]:
        return template_context(catalog, record, FACTS, "", step)

    return outdated_by(catalog, after, FACTS, step_id, before, context)


def ipv6_step(address: str) -> StepRecord:
    return applied("ipv6", address=address, manager="networkd", interface="eth0")


def zone(v6: str, domain: str = "example.org") -> StepRecord:
    return applied("dns-zone", domain=domain, ipv4="192.0.2.1", ipv6=v6, ns_name="ns1." + domain)


def test_the_zone_whose_aaaa_followed_the_ipv6_step_is_planned_with_the_new_address(catalog):
    before = host(ipv6_step(OLD_V6), zone(OLD_V6))
    after = changed(before, "ipv6", address=NEW_V6)
    found = reasons(catalog, before, after, "ipv6")
    assert found["dns-zone"].answers == {"ipv6": NEW_V6}
    assert "ipv6 changed what dns-zone's ipv6 follows" in found["dns-zone"].reason


def test_the_first_ipv6_apply_brings_the_aaaa_to_a_zone_made_without_one(catalog):
    before = host(zone(""))
    after = host(ipv6_step(NEW_V6), zone(""))
    assert reasons(catalog, before, after, "ipv6")["dns-zone"].answers == {"ipv6": NEW_V6}


def test_an_aaaa_the_user_typed_otherwise_is_left_alone(catalog):
    before = host(ipv6_step(OLD_V6), zone("2001:db8::99"))
    after = changed(before, "ipv6", address=NEW_V6)
    assert "dns-zone" not in reasons(catalog, before, after, "ipv6")


def test_the_same_answers_again_outdate_nothing(catalog):
    before = host(ipv6_step(OLD_V6), zone(OLD_V6))
    assert reasons(catalog, before, before, "ipv6") == {}


def test_the_sites_domain_moves_the_names_that_followed_it_only(catalog):
    vhost = applied("vhost", domain="example.org")
    mail = applied("mail", domain="example.org", hostname="mx.example.org")
    before = host(vhost, zone(OLD_V6), mail)
    after = changed(before, "vhost", domain="example.net")
    found = reasons(catalog, before, after, "vhost")
    assert found["dns-zone"].answers == {"domain": "example.net", "ns_name": "ns1.example.net"}
    # The mail name was typed (mx., not the default's mail.): only the domain follows.
    assert found["mail"].answers == {"domain": "example.net"}


def test_a_step_not_applied_is_not_a_follow_up(catalog):
    before = host(ipv6_step(OLD_V6), dataclasses.replace(zone(OLD_V6), status=StepState.PENDING))
    after = changed(before, "ipv6", address=NEW_V6)
    assert "dns-zone" not in reasons(catalog, before, after, "ipv6")
