"""Secrets never reach local state, logs, the journal or a diff; drift is seen and repaired."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from tests.host.harness import apply_ok
from tests.host.test_safety import server_file
from wizard.remote import Credentials

pytestmark = pytest.mark.host
SECRET = "correct-horse-battery-staple-42"
ROOT_PASSWORD = "Tr0ub4dor-and-3-more"


def test_password_and_secret_answers_are_never_written(fresh_testhost, wizard_factory, tmp_path):
    host = fresh_testhost
    host.exec(
        f"echo root:{ROOT_PASSWORD} | chpasswd && "
        "printf 'PermitRootLogin yes\\nPasswordAuthentication yes\\n' "
        "> /etc/ssh/sshd_config.d/99-test-password.conf && systemctl restart ssh"
    )
    host.wait_for_ssh()
    wizard = wizard_factory(host)
    wizard.trust_host()
    credentials = Credentials(password=ROOT_PASSWORD, use_agent=False)
    session = wizard.session("root", extra_steps=True, credentials=credentials)
    try:
        plan = session.plan("secret-file", {"password": SECRET})
        diffs = "".join(c.diff(plan.answers.secret_values()) for c in plan.files)
        assert SECRET not in diffs
        assert "secret file /etc/vps-wizard-test/secret.conf" in diffs
        assert "the password is ********" in diffs
        events: list[str] = []
        session.apply(plan, events.append)
        assert SECRET not in "\n".join(events)
    finally:
        session.close()
    assert server_file(wizard, "/etc/vps-wizard-test/secret.conf") == f"password = {SECRET}\n"
    assert host.exec("stat -c %a /etc/vps-wizard-test/secret.conf").stdout.strip() == "600"

    local = subprocess.run(
        ["grep", "-r", "-l", "-a", "-e", SECRET, "-e", ROOT_PASSWORD, str(wizard.home)],
        capture_output=True,
        text=True,
    )
    assert local.stdout == "", f"secret found in {local.stdout}"
    # Nor a digest of the secret file, which a dictionary attack on a weak password could use.
    digest = hashlib.sha256(f"password = {SECRET}\n".encode()).hexdigest()
    hashed = subprocess.run(
        ["grep", "-r", "-l", "-a", "-e", digest, str(wizard.home)], capture_output=True, text=True
    )
    assert hashed.stdout == "", f"the secret file's sha256 found in {hashed.stdout}"
    journal = host.exec(
        f"grep -r -l -a -e {SECRET} -e {ROOT_PASSWORD} /var/lib/vps-wizard", check=False
    )
    assert journal.stdout == "", f"secret found on the server in {journal.stdout}"


def test_drift_is_reported_and_a_new_apply_repairs_it(day_one_host):
    wizard, _ = day_one_host
    jail = "/etc/fail2ban/jail.d/vps-wizard.local"
    original = server_file(wizard, jail)
    wizard.host.exec(f"echo '# edited by hand' >> {jail}")
    status = wizard.cli("status", wizard.host.address)
    assert status.returncode == 0, status.stderr
    assert "fail2ban" in status.stdout
    line = next(x for x in status.stdout.splitlines() if x.strip().startswith("fail2ban"))
    assert "drifted" in line and jail in line

    plan = wizard.cli("plan", wizard.host.address, "--step", "fail2ban")
    assert plan.returncode == 2
    assert "-# edited by hand" in plan.stdout
    apply_ok(wizard, wizard.host.address, ["fail2ban"])
    assert server_file(wizard, jail) == original
    again = wizard.cli("status", wizard.host.address)
    fail2ban = next(x for x in again.stdout.splitlines() if x.strip().startswith("fail2ban"))
    assert "verified" in fail2ban
