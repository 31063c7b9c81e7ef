"""The mail-auth step on a real Debian 12 host, after day one, dns-zone and mail: SPF, DKIM and
DMARC published by the server's own BIND, OpenDKIM signing what Postfix sends, and each check
failing with its hint when its part is broken, the next apply repairing it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from tests.host.hostile import assert_no_payload_ran, payload, toml_string
from wizard.checks.mail_auth import txt_strings
from wizard.probes.dns import query
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
ZONE = f"/var/lib/bind/vps-wizard/db.{DOMAIN}"
FRAGMENTS = f"/etc/bind/vps-wizard/{DOMAIN}"
KEYS = f"/etc/dkimkeys/{DOMAIN}"
# Where DMARC reports go: a valid address (parse_email takes it) a shell would run.
DMARC_REPORTS = f"o'brien`{payload('dmarc')}`|{{x}}&y!#%*+=?^~@{DOMAIN}"
AUTH_CHECKS = (
    "mail-auth.spf",
    "mail-auth.dkim_record",
    "mail-auth.dkim_signature",
    "mail-auth.dmarc",
    "mail-auth.fail2ban",
)


def answers_text(host: TestHost, selector: str = "mail") -> str:
    """Day one (quick), the zone of the test domain, mail for it, and mail-auth."""
    return QUICK.read_text() + (
        f'\n[dns-zone]\ndomain = "{DOMAIN}"\nipv4 = "{host.address}"\n'
        f'ns_name = "ns1.{DOMAIN}"\nmail_host = "mail.{DOMAIN}"\n'
        f'caa_issuer = "letsencrypt.org"\n'
        f'\n[mail]\ndomain = "{DOMAIN}"\nhostname = "mail.{DOMAIN}"\nmailboxes = "contact"\n'
        f'\n[mail-auth]\nselector = "{selector}"\ndmarc_reports = {toml_string(DMARC_REPORTS)}\n'
    )


@dataclass
class AuthHost:
    """The module's host with everything applied, its laptop, and what the first apply said."""

    wizard: Wizard
    answers: Path
    first_apply: str

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host

    def checks(self) -> dict[str, dict[str, Any]]:
        """The mail-auth checks through the CLI."""
        return checks(self.wizard, "mail-auth")

    def apply(self, answers: Path | None = None) -> str:
        """Apply mail-auth again through the CLI."""
        return apply_ok(self.wizard, self.host.address, ["mail-auth"], answers or self.answers)

    def serial(self) -> int:
        """The serial of the built zone file."""
        match = re.search(r"(\d+) ; serial", self.host.exec(f"cat {ZONE}").stdout)
        assert match
        return int(match.group(1))

    def rebuild_zone(self) -> None:
        """Publish hand-edited fragments, as an admin would."""
        self.host.exec(f"/usr/local/sbin/vps-wizard-zone {DOMAIN}")


@pytest.fixture(scope="module")
def auth_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthHost]:
    """Day one, dns-zone and mail in one apply; then fail2ban again (Postfix is there now, so
    its postfix-auth jail turns on) with mail-auth."""
    testhost = boot_free("vwk", range(208, 224))
    try:
        home = tmp_path_factory.mktemp("mail-auth-laptop")
        own = tmp_path_factory.mktemp("mail-auth-answers")
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = own / "answers.toml"
        answers.write_text(answers_text(testhost))
        with_password = own / "with-password.toml"
        with_password.write_text(
            answers.read_text().replace(
                'mailboxes = "contact"\n',
                'mailboxes = "contact"\npassword = "auth-horse-battery-42"\n',
            )
        )
        steps = ["base", "admin-user", "ssh-hardening", "firewall", "fail2ban", "dns-zone", "mail"]
        apply_ok(wizard, f"root@{testhost.address}", steps, with_password)
        first = apply_ok(wizard, testhost.address, ["fail2ban", "mail-auth"], answers)
        yield AuthHost(wizard, answers, first)
    finally:
        testhost.stop()


def test_every_check_is_ok_and_the_private_key_stayed_on_the_server(auth_host):
    assert "mail-auth.dkim_signature" in auth_host.first_apply
    results = auth_host.checks()
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(AUTH_CHECKS, "ok"), (
        results
    )
    assert f"{auth_host.host.address}: pass" in results["mail-auth.spf"]["evidence"]
    assert (
        "signature by d=example.net s=mail verifies"
        in (results["mail-auth.dkim_signature"]["evidence"])
    )
    # The key's body, on the laptop (state, logs) and in the server's journal and backups.
    private = auth_host.host.exec(f"cat {KEYS}/mail.private").stdout
    body = "".join(private.splitlines()[1:-1])
    assert len(body) > 1000
    piece = body[100:160]
    local = subprocess.run(
        ["grep", "-r", "-l", "-a", "-F", piece, str(auth_host.wizard.home)],
        capture_output=True,
        text=True,
    )
    assert local.stdout == "", f"the private key is in {local.stdout}"
    server = auth_host.host.exec(
        f"grep -r -l -a -F -- {piece} /var/lib/vps-wizard /var/backups/vps-wizard", check=False
    )
    assert server.stdout == "", server.stdout
    assert auth_host.host.exec(f"stat -c '%U %a' {KEYS}/mail.private").stdout == "opendkim 600\n"


def test_the_dmarc_record_served_holds_the_hostile_address_literally(auth_host):
    """The address went into the zone as text and out of BIND as it was: nothing of it ran."""
    answer = query(auth_host.host.address, f"_dmarc.{DOMAIN}", "TXT")
    assert txt_strings(answer) == [
        f"v=DMARC1; p=quarantine; sp=quarantine; adkim=r; aspf=r; rua=mailto:{DMARC_REPORTS}"
    ], answer
    assert_no_payload_ran(auth_host.host)


def test_a_second_apply_changes_nothing_and_the_mail_step_keeps_the_milters(auth_host):
    before = auth_host.serial()
    plan = auth_host.wizard.cli(
        *("plan", auth_host.host.address, "--answers", str(auth_host.answers)),
        *("--step", "mail-auth", "--step", "mail", "--json"),
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert [p["changes"] for p in json.loads(plan.stdout)] == [False, False]
    assert "== mail-auth: nothing to change" in auth_host.apply()
    assert auth_host.serial() == before


def test_a_new_key_on_the_server_fails_dkim_record_until_apply_republishes_it(auth_host):
    host = auth_host.host
    # As an admin following an old tutorial would: a new key over the old one, not published.
    host.exec(
        f"cd {KEYS} && opendkim-genkey -b 2048 -d {DOMAIN} -s mail && chown opendkim mail.* && "
        "systemctl restart opendkim"
    )
    results = auth_host.checks()
    assert_fails(
        results["mail-auth.dkim_record"],
        "not the one OpenDKIM signs with",
        "the key changed on the server",
        "run the mail-auth step again",
    )
    assert_fails(results["mail-auth.dkim_signature"], "does not verify", "dkim_record")
    before = auth_host.serial()
    auth_host.apply()
    assert auth_host.serial() == before + 1
    results = auth_host.checks()
    assert results["mail-auth.dkim_record"]["status"] == "ok", results["mail-auth.dkim_record"]
    assert results["mail-auth.dkim_signature"]["status"] == "ok", results


def test_an_edited_dkim_record_fails_until_apply_writes_the_servers_key_again(auth_host):
    host = auth_host.host
    # Another key's record where ours was: the TXT changed on the DNS side only.
    host.exec(
        "d=$(mktemp -d) && opendkim-genkey -b 1024 -d x -s mail -D $d && "
        f"sed -i -n '1p' {FRAGMENTS}/dkim.zone && "
        f"sed 's/^mail._domainkey/mail._domainkey.{DOMAIN}./' $d/mail.txt >> {FRAGMENTS}/dkim.zone"
        " && rm -rf $d"
    )
    auth_host.rebuild_zone()
    results = auth_host.checks()
    assert_fails(results["mail-auth.dkim_record"], "not the one OpenDKIM signs with", "dkim.zone")
    assert_fails(results["mail-auth.dkim_signature"], "does not verify")
    auth_host.apply()
    results = auth_host.checks()
    assert results["mail-auth.dkim_record"]["status"] == "ok", results["mail-auth.dkim_record"]
    assert results["mail-auth.dkim_signature"]["status"] == "ok", results


def test_spf_without_the_ip_and_dmarc_none_fail_until_apply(auth_host):
    host = auth_host.host
    address = host.address
    host.exec(
        f"sed -i -e 's/ ip4:{address}//' -e 's/p=quarantine/p=none/' {FRAGMENTS}/mail-auth.zone"
    )
    auth_host.rebuild_zone()
    results = auth_host.checks()
    assert_fails(results["mail-auth.spf"], f"does not authorize {address}", "mail-auth.zone")
    assert_fails(results["mail-auth.dmarc"], "p=none", "p=quarantine or p=reject")
    plan = auth_host.wizard.cli(
        "plan", address, "--answers", str(auth_host.answers), "--step", "mail-auth"
    )
    assert plan.returncode == 2 and f'+@\tIN TXT\t"v=spf1 ip4:{address} -all"' in plan.stdout
    auth_host.apply()
    results = auth_host.checks()
    assert results["mail-auth.spf"]["status"] == "ok", results["mail-auth.spf"]
    assert results["mail-auth.dmarc"]["status"] == "ok", results["mail-auth.dmarc"]


def test_the_postfix_auth_jail_stopped_fails_the_fail2ban_check(auth_host):
    host = auth_host.host
    host.exec("fail2ban-client stop postfix-auth")
    try:
        assert_fails(
            auth_host.checks()["mail-auth.fail2ban"], "postfix-auth", "not running", "fail2ban"
        )
    finally:
        host.exec("systemctl restart fail2ban")
    assert auth_host.checks()["mail-auth.fail2ban"]["status"] == "ok"


def test_a_new_selector_is_a_new_key_shown_in_the_review(auth_host, tmp_path):
    rotated = tmp_path / "rotated.toml"
    rotated.write_text(answers_text(auth_host.host, selector="s2"))
    plan = auth_host.wizard.cli(
        "plan", auth_host.host.address, "--answers", str(rotated), "--step", "mail-auth"
    )
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"+s2._domainkey.{DOMAIN} {DOMAIN}:s2:{KEYS}/s2.private" in plan.stdout
    assert f"+*@{DOMAIN} s2._domainkey.{DOMAIN}" in plan.stdout
    assert "opendkim-genkey" in plan.stdout and "PRIVATE KEY" not in plan.stdout
    try:
        auth_host.apply(rotated)
        results = checks(auth_host.wizard, "mail-auth")
        assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(
            AUTH_CHECKS, "ok"
        ), results
        assert "s=s2 verifies" in results["mail-auth.dkim_signature"]["evidence"]
        assert f"s2._domainkey.{DOMAIN}." in auth_host.host.exec(f"cat {ZONE}").stdout
    finally:
        auth_host.apply()
