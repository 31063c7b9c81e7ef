"""The mail step with its password in the answers file, planned again on a real Debian 12 host:
the server checks the password against the stored hashes (the password piped into openssl,
never in argv, a file or the journal), so the same answers give a clean plan (exit 0) and
another password is to update, then applied: the mailboxes log in with the new one only.
"""

from __future__ import annotations

import base64
import imaplib
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok
from tests.host.hostile import assert_no_payload_ran, payload, toml_string
from wizard.probes.tls import client_context
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
PASSWORD = f'first "$({payload("idem1")})" `{payload("idem2")}`; it\'s a\\b'
NEW_PASSWORD = f"second '$({payload('idem3')})' and {payload('idem4')} ${{HOME}}"
SECRET_FILE = "/etc/dovecot/private/vps-wizard-new-mailbox-password"
MAIL_ANSWERS = f"""
[mail]
domain = "{DOMAIN}"
hostname = "mail.{DOMAIN}"
mailboxes = "contact, admin"
cert_source = "self-signed"
"""
# A list of every process's argv on the host, many times a second, until told to stop.
WATCH = (
    "rm -f /run/vw-argv-stop; systemd-run --quiet --collect --unit=vw-argv-watch /bin/sh -c "
    "'while [ ! -e /run/vw-argv-stop ]; do head -v -c 4096 /proc/[0-9]*/cmdline 2>/dev/null "
    '| tr "\\0" " "; echo; done | sort -u > /run/vw-argv.log\''
)
STOP_WATCH = (
    "touch /run/vw-argv-stop; while systemctl -q is-active vw-argv-watch; do sleep 0.1; done; "
    "cat /run/vw-argv.log; rm -f /run/vw-argv.log /run/vw-argv-stop"
)


@dataclass
class MailHost:
    """The module's host with day one and mail applied with PASSWORD."""

    wizard: Wizard
    own: Path

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host

    def answers(self, password: str, mailboxes: str = "contact, admin") -> Path:
        """An answers file of the user's own (outside the laptop's folder) with this password."""
        path = self.own / f"answers-{abs(hash((password, mailboxes)))}.toml"
        text = QUICK.read_text() + MAIL_ANSWERS.replace("contact, admin", mailboxes)
        path.write_text(text + f"password = {toml_string(password)}\n")
        return path

    def plan(self, password: str, mailboxes: str = "contact, admin") -> tuple[int, str]:
        """`vps-wizard plan --step mail` with this password: exit code and output."""
        done = self.wizard.cli(
            "plan", self.host.address, "--answers", str(self.answers(password, mailboxes)),
            "--step", "mail",
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def mail_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailHost]:
    """Day one (quick), then mail through the CLI with PASSWORD in the answers file."""
    testhost = boot_free("vwp", range(128, 144))
    try:
        wizard = Wizard(testhost, tmp_path_factory.mktemp("idem-laptop"))
        wizard.trust_host()
        made = MailHost(wizard, tmp_path_factory.mktemp("idem-answers"))
        day_one = ["base", "admin-user", "ssh-hardening", "firewall"]
        apply_ok(wizard, f"root@{testhost.address}", day_one, made.answers(PASSWORD))
        apply_ok(wizard, testhost.address, ["mail"], made.answers(PASSWORD))
        yield made
    finally:
        testhost.stop()


def logs_in(address: str, user: str, password: str) -> bool:
    """Whether IMAPS accepts this login."""
    imap = imaplib.IMAP4_SSL(address, 993, ssl_context=client_context(), timeout=10)
    try:
        return imap.login(user, password)[0] == "OK"
    except imaplib.IMAP4.error:
        return False
    finally:
        imap.shutdown()


def test_the_same_password_plans_clean_and_is_in_no_argv(mail_host):
    """The probe's verifier is seen in the process list (openssl with the salt), the password
    and its base64 never are. A plan takes a few seconds; the verifier lives milliseconds, so
    the plan runs until the watch has seen it (at most five times)."""
    encoded = base64.b64encode((PASSWORD + "\n").encode()).decode()
    seen = ""
    for _ in range(5):
        mail_host.host.exec(WATCH)
        try:
            code, out = mail_host.plan(PASSWORD)
        finally:
            seen += mail_host.host.exec(STOP_WATCH).stdout
        assert code == 0, out
        assert "== mail: nothing to change" in out or "mail: nothing to change" in out, out
        if "openssl passwd -6 -salt" in seen:
            break
    assert "openssl passwd -6 -salt" in seen, "the watch never saw the verifier run"
    assert PASSWORD not in seen
    assert encoded not in seen and encoded[:40] not in seen
    assert mail_host.host.exec(f"cat {SECRET_FILE}").stdout == "# used\n"


def test_a_new_mailbox_with_the_same_password_is_to_update(mail_host):
    code, out = mail_host.plan(PASSWORD, "contact, admin, sales")
    assert code == 2, out
    assert "the server does not hold it yet" in out, out
    assert PASSWORD not in out


def test_another_password_is_to_update_and_applying_it_changes_the_mailboxes(mail_host):
    address = mail_host.host.address
    code, out = mail_host.plan(NEW_PASSWORD)
    assert code == 2, out
    assert f"secret file {SECRET_FILE}" in out and "the server does not hold it yet" in out, out
    assert NEW_PASSWORD not in out
    assert logs_in(address, f"contact@{DOMAIN}", PASSWORD)

    apply_ok(mail_host.wizard, address, ["mail"], mail_host.answers(NEW_PASSWORD))
    for mailbox in ("contact", "admin"):
        assert logs_in(address, f"{mailbox}@{DOMAIN}", NEW_PASSWORD)
        assert not logs_in(address, f"{mailbox}@{DOMAIN}", PASSWORD)
    users = mail_host.host.exec("stat -c '%a %U %G' /etc/dovecot/vps-wizard/users").stdout
    assert users == "640 root dovecot\n"
    assert mail_host.host.exec(f"cat {SECRET_FILE}").stdout == "# used\n"

    code, out = mail_host.plan(NEW_PASSWORD)
    assert code == 0, out
    code, out = mail_host.plan(PASSWORD)
    assert code == 2, out


def test_no_password_is_kept_in_clear_nor_ran(mail_host):
    """Run last: both passwords went through plans and applies."""
    for password in (PASSWORD, NEW_PASSWORD):
        local = subprocess.run(
            ["grep", "-r", "-l", "-a", "-F", "-e", password, str(mail_host.wizard.home)],
            capture_output=True,
            text=True,
        )
        assert local.stdout == "", f"password found in {local.stdout}"
        server = mail_host.host.exec(
            f"grep -r -l -a -F -e {shlex.quote(password)} /var/lib/vps-wizard "
            "/var/backups/vps-wizard /etc /var/log /tmp /root /home /run",
            check=False,
        )
        assert server.stdout == "", f"password found on the server in {server.stdout}"
        journal = mail_host.host.exec(
            f"journalctl --no-pager -o cat | grep -c -F -e {shlex.quote(password)}", check=False
        )
        assert journal.stdout == "0\n", "password found in the server's journal"
    assert_no_payload_ran(mail_host.host)
