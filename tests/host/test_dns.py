"""The dns-zone step on a real Debian 12 host with BIND, its parent zone served by a second BIND
(the registry's side, tests/host/dnsparent.py). Every check ok, then each failing with its hint
when the thing it watches is broken."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.acme import QUICK
from tests.host.dnsparent import ParentZone
from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
DOMAIN = "example.net"
ZONE = f"/var/lib/bind/vps-wizard/db.{DOMAIN}"
DNS_CHECKS = ("dns.zone_valid", "dns.authoritative", "dns.serial", "dns.registrar")


def dns_answers(host: TestHost, mail_host: str = f"mail.{DOMAIN}") -> str:
    """Day one (quick), then the zone of the test domain, the parent read at the gateway."""
    return QUICK.read_text() + (
        f'\n[dns-zone]\ndomain = "{DOMAIN}"\nipv4 = "{host.address}"\n'
        f'ns_name = "ns1.{DOMAIN}"\nmail_host = "{mail_host}"\n'
        f'caa_issuer = "letsencrypt.org"\nparent_resolver = "{host.gateway}"\n'
    )


def delegation(host: TestHost) -> list[str]:
    """What a registrar holding the right NS and glue publishes in the parent zone."""
    return [f"{DOMAIN}. IN NS ns1.{DOMAIN}.", f"ns1.{DOMAIN}. IN A {host.address}"]


@dataclass
class DnsHost:
    """A host with day one and dns-zone applied, its parent zone, and its laptop."""

    wizard: Wizard
    answers: Path
    parent: ParentZone

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host

    def serial(self) -> int:
        """The serial in the built zone file."""
        text = self.host.exec(f"cat {ZONE}").stdout
        match = re.search(r"(\d+) ; serial", text)
        assert match, text
        return int(match.group(1))


@pytest.fixture(scope="module")
def dns_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsHost]:
    """Day one and dns-zone through the CLI, the parent delegating as the registrar should."""
    testhost = boot_free("vwn", range(192, 208))
    parent = ParentZone(testhost)
    try:
        home = tmp_path_factory.mktemp("dns-laptop")
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = home / "answers.toml"
        answers.write_text(dns_answers(testhost))
        steps = ["base", "admin-user", "ssh-hardening", "firewall", "dns-zone"]
        apply_ok(wizard, f"root@{testhost.address}", steps, answers)
        parent.delegate(delegation(testhost))
        yield DnsHost(wizard, answers, parent)
    finally:
        parent.stop()
        testhost.stop()


def plan_json(dns_host: DnsHost, answers: Path) -> dict:
    """The dns-zone plan for these answers, as the CLI's JSON."""
    result = dns_host.wizard.cli(
        "plan", dns_host.host.address, "--answers", str(answers), "--step", "dns-zone", "--json"
    )
    assert result.stdout, result.stderr
    return json.loads(result.stdout)[0]


def test_every_dns_check_is_ok_and_the_registrar_lines_are_printed(dns_host):
    results = checks(dns_host.wizard, "dns-zone")
    for cid in DNS_CHECKS:
        assert results[cid]["status"] == "ok", results[cid]
    registrar = results["dns.registrar"]["evidence"]
    assert f"NS ns1.{DOMAIN}." in registrar
    assert f"glue ns1.{DOMAIN}. {dns_host.host.address}" in registrar
    served = results["dns.authoritative"]["evidence"]
    assert f"10 mail.{DOMAIN}." in served and 'issue "letsencrypt.org"' in served


def test_recursion_is_refused_to_the_outside(dns_host):
    import dns.message
    import dns.query
    import dns.rcode

    response = dns.query.udp(
        dns.message.make_query("debian.org.", "A"), dns_host.host.address, timeout=3
    )
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.answer


def test_a_second_apply_changes_nothing_and_keeps_the_serial(dns_host):
    before = dns_host.serial()
    assert plan_json(dns_host, dns_host.answers)["changes"] is False
    apply_ok(dns_host.wizard, dns_host.host.address, ["dns-zone"], dns_host.answers)
    assert dns_host.serial() == before


def test_a_new_mail_host_changes_only_the_records_and_raises_the_serial_by_one(dns_host, tmp_path):
    before = dns_host.serial()
    changed = tmp_path / "answers.toml"
    changed.write_text(dns_answers(dns_host.host, mail_host=f"mx.{DOMAIN}"))
    plan = plan_json(dns_host, changed)
    changed_files = [f for f in plan["files"] if f["status"] != "unchanged"]
    assert [f["path"] for f in changed_files] == [f"/etc/bind/vps-wizard/{DOMAIN}/records.zone"]
    assert f"+@\tIN MX\t10 mx.{DOMAIN}." in changed_files[0]["diff"]
    try:
        apply_ok(dns_host.wizard, dns_host.host.address, ["dns-zone"], changed)
        assert dns_host.serial() == before + 1
        results = checks(dns_host.wizard, "dns-zone")
        assert f"10 mx.{DOMAIN}." in results["dns.authoritative"]["evidence"]
        assert results["dns.serial"]["status"] == "ok", results["dns.serial"]
    finally:
        apply_ok(dns_host.wizard, dns_host.host.address, ["dns-zone"], dns_host.answers)


def test_a_fragment_that_does_not_load_is_refused_and_the_zone_keeps_serving(dns_host):
    host = dns_host.host
    fragment = f"/etc/bind/vps-wizard/{DOMAIN}/extra.zone"
    host.exec(f"echo 'www IN CNAME elsewhere.example.' > {fragment}")
    try:
        result = checks(dns_host.wizard, "dns-zone")
        assert_fails(result["dns.zone_valid"], "older than its fragments", "vps-wizard-zone")
        built = host.exec(f"/usr/local/sbin/vps-wizard-zone {DOMAIN}", check=False)
        assert built.returncode != 0
        assert "does not load, nothing changed" in built.stderr
        assert "CNAME and other data" in built.stderr
        after = checks(dns_host.wizard, "dns-zone")
        assert after["dns.authoritative"]["status"] == "ok", after["dns.authoritative"]
    finally:
        host.exec(f"rm -f {fragment}")


def test_named_stopped_fails_authoritative_and_zone_valid(dns_host):
    host = dns_host.host
    host.exec("systemctl stop named")
    try:
        results = checks(dns_host.wizard, "dns-zone")
        assert_fails(results["dns.authoritative"], "no authoritative SOA", "dns-zone")
        assert_fails(results["dns.zone_valid"], "named is inactive")
    finally:
        host.exec("systemctl start named")


def test_a_hand_edited_serial_not_reloaded_fails_dns_serial(dns_host):
    host = dns_host.host
    serial = dns_host.serial()
    host.exec(f"sed -i 's/{serial} ; serial/{serial + 5} ; serial/' {ZONE}")
    try:
        assert_fails(
            checks(dns_host.wizard, "dns-zone")["dns.serial"],
            f"named serves serial {serial}, the zone file has {serial + 5}",
            "rndc reload",
        )
    finally:
        host.exec(f"sed -i 's/{serial + 5} ; serial/{serial} ; serial/' {ZONE}")


def test_a_parent_delegating_elsewhere_fails_registrar_and_no_parent_warns(dns_host):
    parent = dns_host.parent
    parent.delegate([f"{DOMAIN}. IN NS ns.old-hosting.example."])
    try:
        result = checks(dns_host.wizard, "dns-zone")["dns.registrar"]
        assert_fails(result, f"missing NS ns1.{DOMAIN}.", "ns.old-hosting.example.", "registrar")
        parent.stop()
        result = checks(dns_host.wizard, "dns-zone")["dns.registrar"]
        assert result["status"] == "warn", result
        assert "could not be read" in result["summary"]
        assert f"NS ns1.{DOMAIN}." in result["evidence"]
    finally:
        parent.delegate(delegation(dns_host.host))


# ----------------------------------------------------------------------------- dnssec
# The same host, signed: these run after the unsigned zone's tests above.

DNSSEC_CHECKS = ("dnssec.signed", "dnssec.ds", "dnssec.resign")


def served_ds(dns_host: DnsHost) -> str:
    """The DS line the dnssec.ds check prints for the registrar."""
    evidence = checks(dns_host.wizard, "dnssec")["dnssec.ds"]["evidence"]
    match = re.search(rf"^  {DOMAIN}\. IN DS (.+)$", evidence, re.MULTILINE)
    assert match, evidence
    return match.group(1)


@pytest.fixture(scope="module")
def signed_host(dns_host: DnsHost) -> DnsHost:
    """dnssec applied; the parent holds the DS the check tells the user to give."""
    apply_ok(dns_host.wizard, dns_host.host.address, ["dnssec"], dns_host.answers)
    dns_host.parent.delegate([*delegation(dns_host.host), f"{DOMAIN}. IN DS {served_ds(dns_host)}"])
    return dns_host


def test_signed_zone_every_dnssec_and_dns_check_ok(signed_host):
    results = checks(signed_host.wizard, "dns-zone", "dnssec")
    for cid in (*DNS_CHECKS, *DNSSEC_CHECKS):
        assert results[cid]["status"] == "ok", results[cid]
    assert "signed serial" in results["dnssec.resign"]["evidence"]
    signed = results["dnssec.signed"]["evidence"]
    assert "NSEC3" in signed and "soonest expiry" in signed


def test_signed_zone_second_apply_is_a_no_op(signed_host):
    result = signed_host.wizard.cli(
        "plan",
        signed_host.host.address,
        "--answers",
        str(signed_host.answers),
        "--step",
        "dnssec",
        "--step",
        "dns-zone",
        "--json",
    )
    assert [p["changes"] for p in json.loads(result.stdout)] == [False, False], result.stdout


def test_a_record_change_is_signed_by_named_without_the_wizard(signed_host):
    host = signed_host.host
    before = checks(signed_host.wizard, "dnssec")["dnssec.resign"]["evidence"]
    fragment = f"/etc/bind/vps-wizard/{DOMAIN}/extra.zone"
    host.exec(f"echo 'shop IN A {host.address}' > {fragment} && vps-wizard-zone {DOMAIN}")
    try:
        result = checks(signed_host.wizard, "dns-zone", "dnssec")
        assert result["dnssec.signed"]["status"] == "ok", result["dnssec.signed"]
        assert result["dns.serial"]["status"] == "ok", result["dns.serial"]
        assert result["dnssec.resign"]["evidence"] != before
    finally:
        host.exec(f"rm -f {fragment} && vps-wizard-zone {DOMAIN}")


def test_a_stale_ds_at_the_parent_fails_dnssec_ds(signed_host):
    parent = signed_host.parent
    right = served_ds(signed_host)
    tag, algorithm, digest_type, digest = right.split()
    stale = f"{int(tag) ^ 1} {algorithm} {digest_type} {digest[::-1]}"
    parent.delegate([*delegation(signed_host.host), f"{DOMAIN}. IN DS {stale}"])
    try:
        result = checks(signed_host.wizard, "dnssec")["dnssec.ds"]
        assert_fails(result, "matches no key", "SERVFAIL", right.upper(), "registrar")
        parent.delegate(delegation(signed_host.host))
        result = checks(signed_host.wizard, "dnssec")["dnssec.ds"]
        assert result["status"] == "warn" and "holds no DS" in result["summary"], result
    finally:
        parent.delegate([*delegation(signed_host.host), f"{DOMAIN}. IN DS {right}"])


def test_signatures_close_to_expiry_fail_dnssec_signed_and_apply_restores_the_policy(
    signed_host,
):
    host = signed_host.host
    policies = "/etc/bind/vps-wizard/policies.conf"
    # A policy that signs for 2 days only, as a neglected or broken setup would end up.
    host.exec(
        f"sed -i 's/signatures-validity P14D/signatures-validity P2D/; "
        f"s/signatures-validity-dnskey P14D/signatures-validity-dnskey P2D/; "
        f"s/signatures-refresh P4D/signatures-refresh P1D/' {policies} "
        f"&& rndc reconfig && rndc sign {DOMAIN}"
    )
    try:
        result = wait_for_check(signed_host, "dnssec.signed", "fail")
        assert_fails(result, "less than 7 days", "rndc sign")
    finally:
        apply_ok(signed_host.wizard, host.address, ["dnssec"], signed_host.answers)
        host.exec(f"rndc sign {DOMAIN}")
    assert wait_for_check(signed_host, "dnssec.signed", "ok")["status"] == "ok"


def wait_for_check(dns_host: DnsHost, cid: str, status: str, seconds: float = 30) -> dict:
    """The check's result once it has the status (named signs in the background)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        result = checks(dns_host.wizard, cid.split(".")[0])[cid]
        if result["status"] == status or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_the_policy_taken_off_fails_resign_and_its_return_asks_for_the_new_ds(signed_host):
    host, parent = signed_host.host, signed_host.parent
    options = f"/etc/bind/vps-wizard/{DOMAIN}/zone-options.conf"
    host.exec(f"sed -i 's/dnssec-policy \"vps-wizard\"/dnssec-policy insecure/' {options}")
    host.exec("rndc reconfig")
    result = checks(signed_host.wizard, "dnssec")["dnssec.resign"]
    assert_fails(result, "no dnssec-policy", "dnssec step")
    # The policy back: named signs with a new KSK, so the DS the parent holds is stale now,
    # and the apply says so, with the new DS to give the registrar.
    applied = signed_host.wizard.cli(
        "apply", host.address, "--answers", str(signed_host.answers), "--step", "dnssec", "--yes"
    )
    assert "matches no key of the zone" in applied.stdout, applied.stdout
    new_ds = served_ds(signed_host)
    assert new_ds.upper() in applied.stdout
    parent.delegate([*delegation(host), f"{DOMAIN}. IN DS {new_ds}"])
    results = checks(signed_host.wizard, "dnssec")
    assert all(r["status"] == "ok" for r in results.values()), results
