"""The mail step end to end on a real Debian 12 host: Postfix and Dovecot installed and set up
headless, every check ok from outside, a second apply a no-op, the password nowhere in clear;
then each thing broken by hand fails its check with the hint, and the next apply repairs it.
"""

from __future__ import annotations

import imaplib
import json
import shlex
import smtplib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from tests.host.hostile import assert_no_payload_ran, payload, toml_string
from wizard.probes.smtp import start_tls
from wizard.probes.tls import client_context
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
MAILNAME = f"mail.{DOMAIN}"
# The password of the new mailboxes: one line a shell would run in many ways, with quotes of
# both kinds, $(), backticks, ';', spaces and a backslash.
PASSWORD = f'it\'s "$({payload("mail1")})" `{payload("mail2")}`; {payload("mail3")} a\\b 93'
MAIL_CHECKS = (
    "mail.starttls",
    "mail.auth_after_tls",
    "mail.submission_auth",
    "mail.imaps",
    "mail.tls_profile",
    "mail.banner",
    "mail.no_open_relay",
    "mail.delivery",
    "mail.outbound_tls",
)
MAIL_ANSWERS = f"""
[mail]
domain = "{DOMAIN}"
hostname = "{MAILNAME}"
mailboxes = "contact, admin"
size_limit_mb = "25"
cert_source = "self-signed"
"""


@dataclass
class MailHost:
    """The module's host with day one and mail applied, and what the first apply said."""

    wizard: Wizard
    answers: Path
    with_password: Path
    mail_apply: dict[str, Any]

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host


@pytest.fixture(scope="module")
def mail_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailHost]:
    """Day one (quick), then mail through the CLI with the password of the new mailboxes.

    The answers files live outside the laptop's folder: they are the user's own files, and the
    secret test searches the laptop's folder for the password.
    """
    testhost = boot_free("vwm", range(176, 192))
    home = tmp_path_factory.mktemp("mail-laptop")
    own = tmp_path_factory.mktemp("mail-answers")
    try:
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = own / "answers.toml"
        answers.write_text(QUICK.read_text() + MAIL_ANSWERS)
        with_password = own / "with-password.toml"
        with_password.write_text(answers.read_text() + f"password = {toml_string(PASSWORD)}\n")
        day_one = ["base", "admin-user", "ssh-hardening", "firewall"]
        apply_ok(wizard, f"root@{testhost.address}", day_one, answers)
        first = wizard.cli(
            *("apply", testhost.address, "--answers", str(with_password), "--step", "mail"),
            *("--yes", "--json"),
        )
        assert first.returncode == 0, first.stdout + first.stderr
        yield MailHost(wizard, answers, with_password, json.loads(first.stdout))
    finally:
        testhost.stop()


def mail_checks(mail_host: MailHost) -> dict[str, dict[str, Any]]:
    """The mail step's checks through the CLI."""
    return checks(mail_host.wizard, "mail")


def test_mail_opens_its_ports_and_every_check_is_ok(mail_host):
    step = mail_host.mail_apply["steps"][0]
    assert step["followups"] == ["firewall"], step
    statuses = {c["check"]: c["status"] for c in step["checks"]}
    assert statuses == dict.fromkeys((*MAIL_CHECKS, "firewall.active", "firewall.ports"), "ok")
    results = mail_checks(mail_host)
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(MAIL_CHECKS, "ok")
    assert "Relay access denied" in results["mail.no_open_relay"]["evidence"]
    assert "SIZE 26214400" in results["mail.auth_after_tls"]["evidence"]
    assert f"/var/mail/vhosts/{DOMAIN}/contact/new/" in results["mail.delivery"]["evidence"]
    # The check's message is gone once found.
    left = mail_host.host.exec(
        f"grep -rl vps-wizard-check /var/mail/vhosts/{DOMAIN}/*/new", check=False
    )
    assert left.stdout == ""


def refused(address: str, user: str, password: str) -> None:
    """An IMAPS login that Dovecot must refuse."""
    imap = imaplib.IMAP4_SSL(address, 993, ssl_context=client_context(), timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            imap.login(user, password)
    finally:
        imap.shutdown()


def test_a_mailbox_logs_in_over_imaps_and_submission_with_its_password(mail_host):
    address = mail_host.host.address
    with imaplib.IMAP4_SSL(address, 993, ssl_context=client_context(), timeout=10) as imap:
        assert imap.login(f"admin@{DOMAIN}", PASSWORD)[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
    refused(address, f"admin@{DOMAIN}", PASSWORD + "x")
    # A system account's Unix password does not open IMAP (auth-system is off).
    mail_host.host.exec("echo 'admin:unix-password-for-admin' | chpasswd")
    refused(address, "admin", "unix-password-for-admin")
    client = smtplib.SMTP(address, 587, local_hostname="laptop.invalid", timeout=10)
    try:
        client.ehlo()
        assert start_tls(client, client_context(), MAILNAME)[0] == 220
        client.ehlo()
        assert client.login(f"contact@{DOMAIN}", PASSWORD)[0] == 235
        client.mail(f"contact@{DOMAIN}")
        # Logged in, a user may send anywhere (not sent: RSET before DATA).
        assert client.rcpt("someone@example.org")[0] == 250
        client.rset()
    finally:
        client.quit()


def test_a_second_apply_changes_nothing_and_keeps_the_passwords(mail_host):
    users = mail_host.host.exec("cat /etc/dovecot/vps-wizard/users").stdout
    assert users.count(":{SHA512-CRYPT}$6$") == 2
    again = apply_ok(mail_host.wizard, mail_host.host.address, ["mail"], mail_host.answers)
    assert "== mail: nothing to change" in again, again
    # With the password still in the answers, existing mailboxes keep their hashes.
    apply_ok(mail_host.wizard, mail_host.host.address, ["mail"], mail_host.with_password)
    assert mail_host.host.exec("cat /etc/dovecot/vps-wizard/users").stdout == users


def test_the_hostile_password_ran_nothing_on_the_server(mail_host):
    assert_no_payload_ran(mail_host.host)


def test_the_mailbox_password_is_stored_nowhere_in_clear(mail_host):
    local = subprocess.run(
        ["grep", "-r", "-l", "-a", "-F", PASSWORD, str(mail_host.wizard.home)],
        capture_output=True,
        text=True,
    )
    assert local.stdout == "", f"password found in {local.stdout}"
    server = mail_host.host.exec(
        f"grep -r -l -a -F -e {shlex.quote(PASSWORD)} "
        "/var/lib/vps-wizard /var/backups/vps-wizard /etc /var/log /tmp /root /home",
        check=False,
    )
    assert server.stdout == "", f"password found on the server in {server.stdout}"
    journal = mail_host.host.exec(
        f"journalctl --no-pager -o cat | grep -c -F -e {shlex.quote(PASSWORD)}", check=False
    )
    assert journal.stdout == "0\n", "password found in the server's journal"
    password_file = "/etc/dovecot/private/vps-wizard-new-mailbox-password"
    assert mail_host.host.exec(f"cat {password_file}").stdout == "# used\n"


def postconf(host: TestHost, *settings: str) -> None:
    """Change main.cf by hand and reload, as an admin following an old tutorial would."""
    quoted = " ".join(f"'{s}'" for s in settings)
    host.exec(f"postconf -e {quoted} && postfix reload")


def repaired(mail_host: MailHost, check_id: str) -> None:
    """The next apply puts the step's settings back, and the check is ok again."""
    apply_ok(mail_host.wizard, mail_host.host.address, ["mail"], mail_host.answers)
    assert mail_checks(mail_host)[check_id]["status"] == "ok"


def test_an_open_relay_fails_no_open_relay_and_apply_closes_it(mail_host):
    # Postfix itself refuses to start smtpd with relay restrictions that permit everything;
    # the classic open relay is a mynetworks that trusts the whole Internet.
    postconf(mail_host.host, "mynetworks = 0.0.0.0/0 [::]/0")
    result = mail_checks(mail_host)["mail.no_open_relay"]
    assert_fails(result, "OPEN RELAY", "RCPT TO:<vps-wizard-relay-check@example.com>: 250")
    assert "reject_unauth_destination" in result["hint"]
    repaired(mail_host, "mail.no_open_relay")


def test_auth_offered_before_starttls_fails_auth_after_tls_and_apply_removes_it(mail_host):
    # The step's port 25 offers no AUTH at all, and 587 sets smtpd_tls_auth_only itself:
    # turning auth_only off alone changes nothing seen from outside. SASL on 25 with it off
    # (an old tutorial's setup) offers AUTH before STARTTLS.
    postconf(mail_host.host, "smtpd_tls_auth_only = no")
    assert mail_checks(mail_host)["mail.auth_after_tls"]["status"] == "ok"
    postconf(mail_host.host, "smtpd_sasl_auth_enable = yes")
    result = mail_checks(mail_host)["mail.auth_after_tls"]
    assert_fails(result, "before STARTTLS on port 25", "smtpd_tls_auth_only = yes")
    repaired(mail_host, "mail.auth_after_tls")


def test_submission_without_login_fails_submission_auth_and_apply_restores_it(mail_host):
    # An old tutorial's 587: TLS required, but the restrictions of port 25 (local mail is
    # accepted from anyone).
    mail_host.host.exec(
        "postconf -P 'submission/inet/smtpd_client_restrictions=' "
        "'submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,"
        "reject_unauth_destination' && postfix reload"
    )
    result = mail_checks(mail_host)["mail.submission_auth"]
    assert_fails(result, "accepts mail without a login", "RCPT TO", "master.cf")
    repaired(mail_host, "mail.submission_auth")


PROFILE_LINES = (
    "protocols: TLS 1.2, TLS 1.3",
    "TLS 1.3 suites: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256",
    # The step's certificate is ECDSA: the ECDHE-RSA suites cannot be negotiated with it.
    "TLS 1.2 suites: ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES256-GCM-SHA384, "
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "groups: X25519, P-256, P-384",
)


def test_25_587_and_993_accept_exactly_mozilla_intermediate_and_greet_with_the_name(mail_host):
    results = mail_checks(mail_host)
    evidence = results["mail.tls_profile"]["evidence"]
    for port in ("25", "587", "993"):
        section = evidence.split(f"port {port}:\n", 1)[1].split("\nport ", 1)[0]
        for line in PROFILE_LINES:
            assert f"  {line}\n" in section + "\n", (port, section)
    banner = results["mail.banner"]
    assert banner["status"] == "ok", banner
    assert f"port 25: 220 {MAILNAME} ESMTP\n" in banner["evidence"] + "\n", banner
    assert "Postfix" not in banner["evidence"] and "Debian" not in banner["evidence"]


def test_cbc_suites_and_extra_curves_fail_tls_profile_and_apply_restores_them(mail_host):
    host = mail_host.host
    dovecot = "/etc/dovecot/conf.d/99-vps-wizard.conf"
    try:
        # Debian's defaults, as before the step's profile: Postfix's own "high" list and
        # curves on 25/587, Dovecot without a curve list and with CBC suites on 993.
        host.exec(
            "postconf -X tls_high_cipherlist tls_eecdh_auto_curves && "
            "postconf -e 'smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)' && "
            "postfix reload"
        )
        host.exec(
            f"sed -i -e '/^ssl_curve_list/d' -e 's/^ssl_cipher_list = .*/ssl_cipher_list = "
            f"ECDHE+AES:!aNULL/' {dovecot} && systemctl restart dovecot"
        )
        results = mail_checks(mail_host)
        profile = results["mail.tls_profile"]
        assert_fails(profile, "port 25 accepts", "ECDHE-ECDSA-AES256-SHA384", "X448", "P-521")
        assert "port 587 accepts" in profile["summary"], profile
        assert "port 993 accepts ECDHE-ECDSA-AES128-SHA" in profile["summary"], profile
        assert "ARIA" in profile["summary"] and "CAMELLIA" in profile["summary"], profile
        assert "tls_high_cipherlist" in profile["hint"]
        assert_fails(results["mail.banner"], "(Debian/GNU)", "smtpd_banner")
        apply_ok(mail_host.wizard, host.address, ["mail"], mail_host.answers)
        results = mail_checks(mail_host)
        assert results["mail.tls_profile"]["status"] == "ok", results["mail.tls_profile"]
        assert results["mail.banner"]["status"] == "ok", results["mail.banner"]
    finally:
        host.exec("sh /etc/postfix/vps-wizard/merge.sh /etc/postfix && postfix reload")


def test_tls_1_0_allowed_fails_starttls_and_apply_restores_tls_1_2(mail_host):
    host = mail_host.host
    try:
        # Protocols alone are not enough: OpenSSL's security level and the excluded SHA-1
        # ciphers also keep TLS 1.0 out, so a real downgrade touches all three.
        postconf(
            host,
            "smtpd_tls_protocols = >=TLSv1",
            "smtpd_tls_mandatory_protocols = >=TLSv1",
            "smtpd_tls_exclude_ciphers = aNULL",
            "tls_high_cipherlist = DEFAULT:@SECLEVEL=0",
        )
        results = mail_checks(mail_host)
        assert_fails(results["mail.starttls"], "TLS 1.0 accepted", "smtpd_tls_protocols")
        # The enumeration sees it too, on 25 and 587 (one smtpd configuration), not on 993.
        assert_fails(results["mail.tls_profile"], "port 25 accepts TLS 1.0", "port 587 accepts")
        assert "port 993 accepts" not in results["mail.tls_profile"]["summary"]
        repaired(mail_host, "mail.starttls")
        assert mail_checks(mail_host)["mail.tls_profile"]["status"] == "ok"
    finally:
        # tls_high_cipherlist is the step's own now: put every setting back, whatever failed.
        host.exec("sh /etc/postfix/vps-wizard/merge.sh /etc/postfix && postfix reload")


def test_outbound_ca_file_removed_fails_outbound_tls_and_apply_puts_it_back(mail_host):
    mail_host.host.exec("postconf -X smtp_tls_CAfile && postfix reload")
    result = mail_checks(mail_host)["mail.outbound_tls"]
    assert_fails(result, "smtp_tls_CAfile is not set", "Untrusted TLS connection")
    repaired(mail_host, "mail.outbound_tls")
    assert mail_host.host.exec("postconf -h smtp_tls_CAfile").stdout.strip() == (
        "/etc/ssl/certs/ca-certificates.crt"
    )


def test_dovecot_stopped_fails_imaps_and_delivery_and_apply_starts_it(mail_host):
    mail_host.host.exec("systemctl stop dovecot")
    results = mail_checks(mail_host)
    assert_fails(results["mail.imaps"], "no IMAP over TLS", "systemctl status dovecot")
    assert_fails(results["mail.delivery"], "did not arrive", "Dovecot")
    plan = mail_host.wizard.cli(
        "plan", mail_host.host.address, "--answers", str(mail_host.answers), "--step", "mail"
    )
    assert plan.returncode == 2 and "systemctl enable" in plan.stdout, plan.stdout
    repaired(mail_host, "mail.imaps")
    assert mail_checks(mail_host)["mail.delivery"]["status"] == "ok"
