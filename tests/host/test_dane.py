"""The dane step end to end on a real Debian 12 host: BIND authoritative for the test domain (the
dns-zone step), nginx with a certificate from Pebble (the tls step), Postfix with its own
certificate (the mail step), then the TLSA records. Every check ok; a second apply a no-op; a
renewal with a new key publishes the next key's record while the old key is still served, the
scheduled switch then serves the new key and drops the old record; a hand-written record for
an old key fails the check with its hint, and the step repairs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.host.acme import DOMAIN, PEBBLE, QUICK, TLS_CHECKS, start_pebble
from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from wizard.checks.dane import spki_sha256
from wizard.probes.dns import query
from wizard.probes.smtp import converse
from wizard.probes.tls import handshake
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
MAILNAME = f"mail.{DOMAIN}"
LIVE = f"/etc/ssl/vps-wizard/{DOMAIN}"
FRAGMENT = f"/etc/bind/vps-wizard/{DOMAIN}/tlsa.zone"
DANE_CHECKS = ("dane.https", "dane.smtp", "dane.renewal")
OWNERS = (f"_443._tcp.{DOMAIN}", f"_443._tcp.www.{DOMAIN}")
SWITCH = "vps-wizard-tls-switch"


def answers_text(host: TestHost) -> str:
    """Day one (quick), nginx, the vhost, the zone (mail host inside it), mail with a
    self-signed certificate, tls from the Pebble inside the host, dane."""
    return QUICK.read_text() + (
        f'\n[web]\nserver = "nginx"\n\n[vhost]\ndomain = "{DOMAIN}"\ncanonical = "bare"\n\n'
        f'[dns-zone]\ndomain = "{DOMAIN}"\nipv4 = "{host.address}"\nns_name = "ns1.{DOMAIN}"\n'
        f'mail_host = "{MAILNAME}"\ncaa_issuer = ""\n\n'
        f'[mail]\ndomain = "{DOMAIN}"\nhostname = "{MAILNAME}"\nmailboxes = "postmaster"\n'
        'size_limit_mb = "25"\ncert_source = "self-signed"\n'
        'password = "dane-test-mailbox-password-1"\n\n'
        f'[tls]\nsource = "acme"\nacme_server = "https://localhost:14000/dir"\n'
        f'email = "admin@{DOMAIN}"\nacme_ca_bundle = "{PEBBLE}/tls-ca.pem"\n'
        f'ca_file = "{PEBBLE}/root.pem"\n\n[dane]\nttl = "300"\n'
    )


@dataclass
class DaneHost:
    """A host with everything up to dane applied, and its laptop."""

    wizard: Wizard
    answers: Path
    dane_apply: str

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host

    def served(self, name: str = DOMAIN) -> str:
        """The SPKI SHA-256 of the key nginx serves for `name`, seen over TLS."""
        seen = handshake(self.host.address, name)
        assert seen.leaf, seen.error
        return spki_sha256(seen.leaf)

    def published(self, owner: str) -> set[str]:
        """The 3 1 1 hashes the host's BIND answers for `owner`."""
        answer = query(self.host.address, owner, "TLSA")
        assert not answer.error, answer.error
        return {text.removeprefix("3 1 1 ") for text in answer.texts()}

    def file_key(self, path: str) -> str:
        """The SPKI SHA-256 of the first certificate of a PEM file on the host."""
        return spki_sha256(self.host.exec(f"cat {path}").stdout.encode())

    def timer(self) -> str:
        """The switch timer's state: 'waiting' while a switch counts down."""
        shown = self.host.exec(f"systemctl show -P SubState {SWITCH}.timer", check=False)
        return shown.stdout.strip()

    def plan_changes(self, *steps: str) -> dict[str, bool]:
        """{step: whether its plan has changes}, through the CLI."""
        args = ["plan", self.host.address, "--answers", str(self.answers), "--json"]
        for step in steps:
            args += ["--step", step]
        result = self.wizard.cli(*args)
        assert result.stdout, result.stderr
        return {plan["step"]: plan["changes"] for plan in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def dane_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaneHost]:
    """Day one, web, vhost, dns-zone and mail as root; Pebble; then tls and dane as the admin."""
    testhost = boot_free("vwx", range(224, 240))
    try:
        home = tmp_path_factory.mktemp("dane-laptop")
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = tmp_path_factory.mktemp("dane-answers") / "answers.toml"
        answers.write_text(answers_text(testhost))
        steps = ["base", "admin-user", "ssh-hardening", "firewall", "web", "vhost", "dns-zone"]
        apply_ok(wizard, f"root@{testhost.address}", [*steps, "mail"], answers)
        start_pebble(testhost)
        output = apply_ok(wizard, testhost.address, ["tls", "dane"], answers)
        yield DaneHost(wizard, answers, output)
    finally:
        testhost.stop()


def test_every_dane_check_is_ok_and_the_records_are_the_served_keys(dane_host):
    results = checks(dane_host.wizard, "dane", "tls")
    statuses = {cid: r["status"] for cid, r in results.items()}
    assert statuses == dict.fromkeys((*DANE_CHECKS, *TLS_CHECKS), "ok"), results
    web = dane_host.served()
    assert dane_host.served(f"www.{DOMAIN}") == web
    for owner in OWNERS:
        assert dane_host.published(owner) == {web}
    assert web in results["dane.https"]["evidence"]
    # The key Postfix serves after STARTTLS, seen from here, is the one published for _25.
    tls = converse(dane_host.host.address, MAILNAME, 25).tls
    assert tls.leaf, tls.error
    mail = spki_sha256(tls.leaf)
    assert mail != web
    assert dane_host.published(f"_25._tcp.{MAILNAME}") == {mail}
    assert mail in results["dane.smtp"]["evidence"]
    # The site serves a pinned version of certbot's archive, not its live links.
    link = dane_host.host.exec(f"readlink {LIVE}/fullchain.pem").stdout.strip()
    assert link == f"/etc/letsencrypt/archive/{DOMAIN}/fullchain1.pem"


def test_a_second_apply_changes_nothing(dane_host):
    assert dane_host.plan_changes("tls", "dane") == {"tls": False, "dane": False}
    again = apply_ok(dane_host.wizard, dane_host.host.address, ["tls", "dane"], dane_host.answers)
    assert "== tls: nothing to change" in again, again
    assert "== dane: nothing to change" in again, again


def test_a_renewal_publishes_the_next_key_first_and_switches_after_the_wait(dane_host):
    host = dane_host.host
    old = dane_host.served()
    renewed = host.exec(
        f"REQUESTS_CA_BUNDLE={PEBBLE}/tls-ca.pem certbot renew --force-renewal "
        "--no-random-sleep-on-renew 2>&1"
    ).stdout
    assert "the next certificate of example.net is served in 600 s" in renewed, renewed
    new = dane_host.file_key(f"/etc/letsencrypt/live/{DOMAIN}/fullchain.pem")
    assert new != old, "certbot kept the key: nothing to roll over"

    # Before the switch: the old key is still served, both records are published.
    assert dane_host.served() == old
    for owner in OWNERS:
        assert dane_host.published(owner) == {old, new}
    assert dane_host.timer() == "waiting"
    results = checks(dane_host.wizard, "dane")
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(DANE_CHECKS, "ok")
    assert "next key" in results["dane.https"]["summary"]
    assert "waits for its timer" in results["dane.renewal"]["summary"]
    # Applying again does not hurry the switch: the timer owns it.
    assert dane_host.plan_changes("tls", "dane") == {"tls": False, "dane": False}

    # The switch, now instead of in 10 minutes: the new key served, the old record gone.
    host.exec(f"systemctl start {SWITCH}.service")
    assert dane_host.served() == new
    for owner in OWNERS:
        assert dane_host.published(owner) == {new}
    assert dane_host.timer() != "waiting"
    results = checks(dane_host.wizard, "dane", "tls")
    statuses = {cid: r["status"] for cid, r in results.items()}
    assert statuses == dict.fromkeys((*DANE_CHECKS, *TLS_CHECKS), "ok"), results
    assert "next key" not in results["dane.https"]["summary"]
    assert dane_host.plan_changes("tls", "dane") == {"tls": False, "dane": False}


def test_a_record_for_an_old_key_fails_and_the_step_repairs_it(dane_host):
    host = dane_host.host
    retired = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = retired.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    old = hashlib.sha256(spki).hexdigest()
    lines = "".join(f"{owner}. 300 IN TLSA 3 1 1 {old}\n" for owner in OWNERS)
    mail_line = host.exec(f"grep _25._tcp {FRAGMENT}").stdout
    host.exec(f"cat > {FRAGMENT} && vps-wizard-zone {DOMAIN}", input=lines + mail_line)
    assert dane_host.published(OWNERS[0]) == {old}
    results = checks(dane_host.wizard, "dane")
    assert_fails(
        results["dane.https"],
        f"the TLSA of _443._tcp.{DOMAIN} matches no key the server serves: a record for an old key",
        "run the dane step again",
        old,
        dane_host.served(),
    )
    assert_fails(results["dane.renewal"], "tlsa.zone is not what the served certificates need")
    assert results["dane.smtp"]["status"] == "ok", results["dane.smtp"]
    # The repair shows in the plan as the TLSA update to run.
    assert dane_host.plan_changes("dane") == {"dane": True}
    apply_ok(dane_host.wizard, host.address, ["dane"], dane_host.answers)
    assert dane_host.published(OWNERS[0]) == {dane_host.served()}
    assert {r["status"] for r in checks(dane_host.wizard, "dane").values()} == {"ok"}


def test_a_new_mail_certificate_moves_the_smtp_record_with_it(dane_host):
    host = dane_host.host
    before = dane_host.published(f"_25._tcp.{MAILNAME}")
    host.exec(f"rm -f /etc/ssl/vps-wizard/{MAILNAME}/fullchain.pem")
    apply_ok(dane_host.wizard, host.address, ["mail"], dane_host.answers)
    tls = converse(host.address, MAILNAME, 25).tls
    served = spki_sha256(tls.leaf)
    assert {served} != before
    assert dane_host.published(f"_25._tcp.{MAILNAME}") == {served}
    assert checks(dane_host.wizard, "dane")["dane.smtp"]["status"] == "ok"


def test_a_failed_publication_keeps_the_old_key_and_the_tls_step_resumes_the_switch(dane_host):
    host = dane_host.host
    served = dane_host.served()
    script = "/usr/local/sbin/vps-wizard-tlsa"
    host.exec(f"mv {script} {script}.bak && printf '#!/bin/sh\\nexit 1\\n' > {script}")
    host.exec(f"chmod 0755 {script}")
    try:
        renewed = host.exec(
            f"REQUESTS_CA_BUNDLE={PEBBLE}/tls-ca.pem certbot renew --force-renewal "
            "--no-random-sleep-on-renew 2>&1",
            check=False,
        ).stdout
        assert "keeps serving its current certificate" in renewed, renewed
    finally:
        host.exec(f"mv -f {script}.bak {script}")
    # No record for the next key, so no switch: the old key stays served and published.
    assert dane_host.served() == served
    assert dane_host.published(OWNERS[0]) == {served}
    results = checks(dane_host.wizard, "dane")
    assert_fails(results["dane.renewal"], "stuck", "run the tls step again")
    assert_fails(results["dane.https"], "has no record for it")
    # The tls step's plan shows the switch to resume; applying it publishes and waits again.
    assert dane_host.plan_changes("tls") == {"tls": True}
    apply_ok(dane_host.wizard, host.address, ["tls"], dane_host.answers)
    new = dane_host.file_key(f"/etc/letsencrypt/live/{DOMAIN}/fullchain.pem")
    assert dane_host.timer() == "waiting"
    assert dane_host.published(OWNERS[0]) == {served, new}
    host.exec(f"systemctl start {SWITCH}.service")
    assert dane_host.served() == new
    assert dane_host.published(OWNERS[0]) == {new}
