"""`plan` of a whole answers file on a fresh server shows every step before anything changes
(issue 11's main point), and `apply --yes` of the same file writes exactly what it showed.

Before, `plan --answers examples/day-one.toml` (the README's own command) stopped at once with
"step admin-user needs base applied first" and showed nothing.
"""

from __future__ import annotations

import json

import pytest

from tests.host.harness import DAY_ONE, DAY_ONE_STEPS, Wizard

pytestmark = pytest.mark.host


def server_view(wizard: Wizard) -> str:
    """What the day-one steps would change: host name, users, packages, the wizard's files."""
    return wizard.host.exec(
        "cat /etc/hostname; getent passwd admin || echo no-admin; "
        "ls /etc/ssh/sshd_config.d /etc/fail2ban/jail.d 2>&1; "
        "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' nftables fail2ban 2>&1; "
        "ls -A /var/lib/vps-wizard 2>&1",
        check=False,
    ).stdout


@pytest.fixture
def wizard(fresh_testhost, wizard_factory) -> Wizard:
    """A laptop that trusts a fresh host."""
    laptop = wizard_factory(fresh_testhost)
    laptop.trust_host()
    return laptop


def test_the_whole_day_one_is_planned_on_a_fresh_server_and_applied_as_shown(wizard, tmp_path):
    host = wizard.host
    target = f"root@{host.address}"
    before = server_view(wizard)

    # The README's command, as written.
    shown = wizard.cli("plan", target, "--answers", str(DAY_ONE))
    assert shown.returncode == 2, shown.stdout + shown.stderr
    for step in DAY_ONE_STEPS:
        assert f"== {step}: " in shown.stdout, shown.stdout
    assert "needs base applied first" not in shown.stdout + shown.stderr
    assert "(planned as base, admin-user, ssh-hardening would leave the server" in shown.stdout
    assert "+++ /etc/ssh/sshd_config.d/00-vps-wizard.conf (new)" in shown.stdout
    assert "will run: " in shown.stdout
    assert server_view(wizard) == before, "plan changed the server"

    # The same with upgrade off (to keep the test fast), as JSON: each step's place and the
    # earlier steps it is planned after.
    answers = tmp_path / "day-one.toml"
    answers.write_text(DAY_ONE.read_text().replace("upgrade = true", "upgrade = false"))
    result = wizard.cli("plan", target, "--answers", str(answers), "--json")
    assert result.returncode == 2, result.stderr
    planned = json.loads(result.stdout)
    assert [item["step"] for item in planned] == list(DAY_ONE_STEPS)
    assert [item["after"] for item in planned][:3] == [[], ["base"], ["base", "admin-user"]]
    # fail2ban's admin address is ignored: the address the wizard connects from, as planned.
    jail = next(
        f for f in planned[-1]["files"] if f["path"] == "/etc/fail2ban/jail.d/vps-wizard.local"
    )
    assert "ignoreip" in jail["diff"], jail
    assert server_view(wizard) == before

    # apply --yes of that file writes exactly what the plan showed, file by file.
    applied = wizard.cli("apply", target, "--answers", str(answers), "--yes", timeout=900)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for item in planned:
        for change in item["files"]:
            if change["sha256"] is None:
                continue
            on_server = host.exec(f"sha256sum {change['path']}").stdout.split()[0]
            assert on_server == change["sha256"], (item["step"], change["path"])

    # And the same plan is clean now (as the admin: ssh-hardening closed root's login).
    again = wizard.cli("plan", f"admin@{host.address}", "--answers", str(answers))
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_follow_up_is_folded_into_the_plan_after_the_step_that_makes_it(wizard, tmp_path):
    """With the firewall applied, a run whose ssh-hardening moves the port plans the firewall
    again right after it, against the files the run would leave."""
    host = wizard.host
    answers = tmp_path / "answers.toml"
    answers.write_text(
        "[base]\nfqdn = 'test.example.net'\ntimezone = 'UTC'\nupgrade = false\n"
        "[admin-user]\nusername = 'admin'\n[ssh-hardening]\n[firewall]\n"
    )
    done = wizard.cli("apply", f"root@{host.address}", "--answers", str(answers), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    moved = tmp_path / "moved.toml"
    moved.write_text("[ssh-hardening]\nport = 2222\n[fail2ban]\n")
    result = wizard.cli("plan", f"admin@{host.address}", "--answers", str(moved), "--json")
    assert result.returncode == 2, result.stderr
    planned = json.loads(result.stdout)
    assert [(item["step"], item["reason"]) for item in planned] == [
        ("ssh-hardening", ""),
        ("firewall", "ssh-hardening needs 2222/tcp"),
        ("fail2ban", ""),
    ]
    firewall = planned[1]
    assert firewall["after"] == ["ssh-hardening"]
    ruleset = next(f for f in firewall["files"] if f["path"] == "/etc/nftables.conf")
    assert "2222" in ruleset["diff"], firewall
    # Nothing changed: the firewall's ruleset still without 2222.
    assert "2222" not in host.exec("nft list ruleset").stdout
