"""An admin whose sudo asks a password: the wizard says so, and works with it (in memory only)."""

from __future__ import annotations

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
