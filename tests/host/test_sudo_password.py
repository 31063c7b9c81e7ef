"""An admin whose sudo asks a password: the wizard says so, and works with it (in memory only)."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from tests.host.test_safety import QUICK
from wizard.errors import WizardError
from wizard.remote import Credentials

pytestmark = pytest.mark.host
PASSWORD = "sudo-pass-Xy7-long-enough"


def test_sudo_with_a_password(fresh_testhost, wizard_factory, tmp_path):
    host = fresh_testhost
    wizard = wizard_factory(host)
    wizard.trust_host()
    answers = tmp_path / "answers.toml"
    answers.write_text(
        QUICK.read_text().replace("[admin-user]", "[admin-user]\nsudo_nopasswd = false")
    )
    result = wizard.cli(
        "apply",
        f"root@{host.address}",
        "--answers",
        str(answers),
        "--step",
        "base",
        "--step",
        "admin-user",
        "--yes",
    )
    # ssh.login cannot pass: sudo -n needs the password nobody gave.
    assert result.returncode == 1
    assert "sudo" in result.stdout
    host.exec(f"echo 'admin:{PASSWORD}' | chpasswd")

    with pytest.raises(WizardError) as refused:
        wizard.session("admin")
    assert "needs a password for sudo" in refused.value.message
    assert "--ask-sudo-password" in refused.value.hint

    key = str(wizard.key)
    session = wizard.session("admin", credentials=Credentials(key, sudo_password=PASSWORD))
    try:
        assert not session.plan("base").has_changes
        results = session.verify(["admin-user"])["admin-user"]
        assert [r.status for r in results] == ["ok"], results
    finally:
        session.close()
    found = subprocess.run(
        ["grep", "-r", "-l", "-a", PASSWORD, str(wizard.home)], capture_output=True, text=True
    )
    assert found.stdout == ""


# A password a shell would run: if it ever reached a shell's input, /tmp/vw-pwned appears.
HOSTILE = "pw $(touch${IFS}/tmp/vw-pwned) `touch /tmp/vw-pwned2`; x'\"long"
# Where a password must never land on the server.
SERVER_PLACES = "/var/lib/vps-wizard /var/backups/vps-wizard /var/log /tmp /root /home /etc"


def _nowhere_on_the_server(host, password: str) -> None:
    found = host.exec(
        f"grep -r -l -a -F -e {shlex.quote(password)} {SERVER_PLACES} 2>/dev/null; "
        f"journalctl --no-pager -o cat | grep -c -F -e {shlex.quote(password)}",
        check=False,
    )
    assert found.stdout.split() == ["0"], found.stdout


def assert_admin_made(host, applied) -> None:
    """base and admin-user were applied (only admin-user's sudo check may fail): the admin
    exists, or the run's own output says why not."""
    made = host.exec("id admin", check=False).returncode == 0
    assert made, applied.stdout[-3000:] + applied.stderr[-2000:]


def _admin_session_with(wizard, password: str):
    return wizard.session("admin", credentials=Credentials(str(wizard.key), sudo_password=password))


@pytest.mark.parametrize("needs_password", [False, True], ids=["nopasswd", "password"])
def test_the_sudo_password_goes_only_to_sudo(
    fresh_testhost, wizard_factory, tmp_path, needs_password
):
    host = fresh_testhost
    wizard = wizard_factory(host)
    wizard.trust_host()
    answers = tmp_path / "answers.toml"
    text = QUICK.read_text()
    if needs_password:
        text = text.replace("[admin-user]", "[admin-user]\nsudo_nopasswd = false")
    answers.write_text(text)
    applied = wizard.cli(
        "apply",
        f"root@{host.address}",
        "--answers",
        str(answers),
        "--step",
        "base",
        "--step",
        "admin-user",
        "--yes",
    )
    assert_admin_made(host, applied)
    host.exec(f"echo {shlex.quote('admin:' + HOSTILE)} | chpasswd")
    # NOPASSWD: sudo never asks, so the password is never sent. With a password: sent once,
    # to sudo's prompt. Either way every command works, the server copy of the state parses.
    session = _admin_session_with(wizard, HOSTILE)
    try:
        assert not session.plan("base").has_changes
        statuses = [r.status for r in session.verify(["base"])["base"]]
        assert statuses == ["ok"] * len(session.catalog.get("base").checks), statuses
    finally:
        session.close()
    assert host.exec("ls /tmp/vw-pwned /tmp/vw-pwned2", check=False).returncode != 0
    state = host.exec("cat /var/lib/vps-wizard/state.json").stdout
    assert json.loads(state)["steps"]["base"]["status"] == "verified"
    _nowhere_on_the_server(host, HOSTILE)
    _nowhere_on_the_server(host, "touch${IFS}/tmp/vw-pwned")
    local = subprocess.run(
        ["grep", "-r", "-l", "-a", "-F", "-e", HOSTILE, str(wizard.home)],
        capture_output=True,
        text=True,
    )
    assert local.stdout == ""


def test_a_wrong_sudo_password_is_refused_with_the_reason(fresh_testhost, wizard_factory, tmp_path):
    host = fresh_testhost
    wizard = wizard_factory(host)
    wizard.trust_host()
    answers = tmp_path / "answers.toml"
    answers.write_text(
        QUICK.read_text().replace("[admin-user]", "[admin-user]\nsudo_nopasswd = false")
    )
    applied = wizard.cli(
        "apply",
        f"root@{host.address}",
        "--answers",
        str(answers),
        "--step",
        "base",
        "--step",
        "admin-user",
        "--yes",
    )
    assert_admin_made(host, applied)
    host.exec(f"echo 'admin:{PASSWORD}' | chpasswd")
    with pytest.raises(WizardError) as refused:
        _admin_session_with(wizard, "not-the-password-at-all")
    assert "refused the password" in refused.value.message
