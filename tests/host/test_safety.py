"""Nothing is lost, nobody is locked out: the guard, validation, a killed wizard, a dropped link."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.host.harness import Wizard, apply_ok

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DROP_IN = "/etc/ssh/sshd_config.d"


@pytest.fixture
def admin_host(fresh_testhost, wizard_factory) -> Wizard:
    """A fresh host with base and admin-user applied (SSH still open to root)."""
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    apply_ok(wizard, f"root@{fresh_testhost.address}", ["base", "admin-user"], QUICK)
    return wizard


def server_file(wizard: Wizard, path: str) -> str | None:
    """A file's content on the server, read without SSH; None when absent."""
    result = wizard.host.exec(f"cat {path}", check=False)
    return result.stdout if result.returncode == 0 else None


def run_status(wizard: Wizard) -> str:
    """The status word of the newest run in the server's journal."""
    return wizard.host.exec(
        "cat $(ls -d /var/lib/vps-wizard/runs/* | tail -n 1)/status", check=False
    ).stdout.strip()


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll until predicate() is true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def test_sshd_config_refusing_the_admin_is_reverted(admin_host):
    result = admin_host.cli(
        "apply", f"root@{admin_host.host.address}", "--step", "deny-admin", "--yes"
    )
    assert result.returncode == 1
    assert "a new SSH session could not log in" in result.stderr
    assert "put back" in result.stderr
    assert "Traceback" not in result.stderr
    assert server_file(admin_host, f"{DROP_IN}/10-test-deny.conf") is None
    assert run_status(admin_host) == "reverted"
    history = json.loads(admin_host.cli("status", admin_host.host.address, "--json").stdout)
    assert history["recent_runs"][-1]["step"] == "deny-admin"
    assert history["recent_runs"][-1]["status"] == "reverted"
    # The admin can log in again: the guard's proof.
    session = admin_host.session("admin")
    session.close()


def test_ssh_port_the_firewall_does_not_allow_is_reverted(admin_host, tmp_path):
    apply_ok(admin_host, f"root@{admin_host.host.address}", ["ssh-hardening", "firewall"], QUICK)
    answers = tmp_path / "answers.toml"
    answers.write_text("[ssh-hardening]\nport = 2222\n")
    result = admin_host.cli(
        "apply",
        admin_host.host.address,
        "--answers",
        str(answers),
        "--step",
        "ssh-hardening",
        "--yes",
    )
    assert result.returncode == 1, result.stdout
    assert "a new SSH session could not log in" in result.stderr
    assert "Port 22\n" in server_file(admin_host, f"{DROP_IN}/00-vps-wizard.conf")
    assert run_status(admin_host) == "reverted"
    verify = admin_host.cli("verify", admin_host.host.address, "--step", "ssh-hardening")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_killed_wizard_after_reload_reverts_by_itself(admin_host):
    target = f"root@{admin_host.host.address}"
    process = admin_host.popen("apply", target, "--step", "guarded-tweak", "--yes")
    assert wait_for(lambda: run_status(admin_host) == "writing", timeout=30)
    process.send_signal(signal.SIGKILL)
    process.wait()
    tweak = f"{DROP_IN}/30-test-tweak.conf"
    assert wait_for(lambda: run_status(admin_host) == "awaiting-confirm", timeout=20)
    assert server_file(admin_host, tweak) == "MaxSessions 7\n"
    # Nobody confirms: the server reverts by itself when the guard's timer fires.
    assert wait_for(
        lambda: run_status(admin_host) == "reverted", admin_host.guard_seconds + 15, 0.5
    )
    assert server_file(admin_host, tweak) is None
    # The next run finds the journal ended, applies again and this time confirms.
    again = admin_host.cli("apply", target, "--step", "guarded-tweak", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert server_file(admin_host, tweak) == "MaxSessions 7\n"


def test_validation_failure_keeps_old_file_and_service(admin_host):
    before = admin_host.host.exec("systemctl show -p MainPID --value ssh").stdout
    result = admin_host.cli(
        "apply", f"root@{admin_host.host.address}", "--step", "broken-sshd", "--yes"
    )
    assert result.returncode == 1
    assert "validation of /etc/ssh/sshd_config.d/20-test-broken.conf failed" in result.stderr
    assert "ThisIsNotAnSshdDirective" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert server_file(admin_host, f"{DROP_IN}/20-test-broken.conf") is None
    leftovers = admin_host.host.exec(f"ls {DROP_IN}").stdout
    assert "vw-new" not in leftovers
    assert admin_host.host.exec("systemctl is-active ssh").stdout.strip() == "active"
    assert admin_host.host.exec("systemctl show -p MainPID --value ssh").stdout == before


def test_dropped_connection_leaves_files_old_or_new_and_resume_verifies(admin_host, tmp_path):
    target = f"root@{admin_host.host.address}"
    apply_ok(admin_host, target, ["slow-write"], QUICK)
    answers = tmp_path / "answers.toml"
    answers.write_text('[slow-write]\ntext = "second"\n')
    process = admin_host.popen("apply", target, "--answers", str(answers), "--yes")
    assert wait_for(lambda: run_status(admin_host) == "writing", timeout=30)
    # Kill the server side of the wizard's SSH session, as a dropped link would.
    admin_host.host.exec("pkill -KILL -f 'sshd: root@notty'", check=False)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "dropped" in output and "Run the wizard again" in output
    assert "Traceback" not in output
    for name in "abc":
        assert server_file(admin_host, f"/etc/vps-wizard-test/{name}.conf") in (
            "word = first\n",
            "word = second\n",
        )
    again = admin_host.cli("apply", target, "--answers", str(answers), "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    for name in "abc":
        assert server_file(admin_host, f"/etc/vps-wizard-test/{name}.conf") == "word = second\n"
    status = admin_host.cli("status", target, "--json")
    assert '"slow-write", "status": "verified"' in status.stdout


def test_full_disk_is_reported_and_nothing_changes(admin_host):
    admin_host.host.exec(
        "mkdir -p /etc/vps-wizard-test && mount -t tmpfs -o size=12k tmpfs /etc/vps-wizard-test"
        " && (dd if=/dev/zero of=/etc/vps-wizard-test/filler bs=1k count=64 2>/dev/null; true)"
    )
    result = admin_host.cli(
        "apply", f"root@{admin_host.host.address}", "--step", "slow-write", "--yes"
    )
    assert result.returncode == 1
    assert "disk is full" in result.stderr
    assert "Traceback" not in result.stderr
    assert server_file(admin_host, "/etc/vps-wizard-test/a.conf") is None
    leftovers = admin_host.host.exec("ls -a /etc/vps-wizard-test").stdout
    assert "vw-new" not in leftovers


def test_every_replaced_file_is_backed_up_with_mode_and_owner(admin_host):
    backups = admin_host.host.exec(
        "for i in /var/backups/vps-wizard/*/index; do cat $i; done"
    ).stdout
    assert "/etc/hosts" in backups
    run = admin_host.host.exec("grep -l /etc/hosts /var/backups/vps-wizard/*/index").stdout.split()[
        0
    ]
    folder = run.rsplit("/", 1)[0]
    # The copy keeps the file's own path under files/ (one cp for every file of the run).
    saved = admin_host.host.exec(f"stat -c '%a %U' {folder}/files/etc/hosts").stdout.strip()
    assert saved == "644 root"
    assert "localhost" in admin_host.host.exec(f"cat {folder}/files/etc/hosts").stdout


def test_rolled_back_guarded_run_leaves_no_revert_armed(admin_host):
    result = admin_host.cli(
        "apply", f"root@{admin_host.host.address}", "--step", "guarded-fail", "--yes"
    )
    assert result.returncode == 1
    assert "vps-wizard-no-such-service" in result.stderr
    assert "previous files were restored" in result.stderr
    assert server_file(admin_host, f"{DROP_IN}/40-test-fail.conf") is None
    assert run_status(admin_host) == "rolled-back"
    timers = admin_host.host.exec("systemctl list-timers --all --no-legend 'vps-wizard-*'").stdout
    assert timers.strip() == ""
