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
