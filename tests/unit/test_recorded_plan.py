"""Plans against real servers' recorded current files, packages and services: the diffs a user
reviews before anything is applied (tests/unit/recordings)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.recordings import addresses, answers, session
from wizard.plan import FileChange, Plan

SECURITY = "/etc/apt/sources.list.d/vps-wizard-security.sources"
SSHD_DROP_IN = "/etc/ssh/sshd_config.d/00-vps-wizard.conf"


def plan_of(name: str, step_id: str, home: Path) -> Plan:
    return session(name, home).plan(step_id, answers(step_id))


def change(plan: Plan, dest: str) -> FileChange:
    return next(c for c in plan.files if c.dest == dest)


def diff_lines(plan: Plan, dest: str) -> list[str]:
    """The +/- lines of a file's diff, without the headers."""
    lines = change(plan, dest).diff().splitlines()
    return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def will_run(plan: Plan) -> list[str]:
    return [str(c.run) for c in plan.commands if c.will_run]


def test_base_on_a_fresh_debian_12_shows_the_name_and_hosts_diff_and_the_package(
    tmp_path: Path,
) -> None:
    plan = plan_of("debian12-fresh", "base", tmp_path)
    assert plan.summary() == (
        "base: install unattended-upgrades, 5 file(s) to update, 10 file(s) to create, "
        "4 command(s) to run"
    )
    assert plan.missing_packages == ("unattended-upgrades",)
    assert diff_lines(plan, "/etc/hostname") == ["-vps", "+server"]
    hosts = diff_lines(plan, "/etc/hosts")
    server, _ = addresses("debian12-fresh")
    assert f"+{server}\tserver.example.net server" in hosts
    assert "-::1\tlocalhost ip6-localhost" in hosts
    assert change(plan, "/etc/hostname").status == "update"
    assert change(plan, "/etc/sudoers.d/60-vps-wizard-log").status == "create"
    # bookworm-security is listed already: the file says so and apt's lists are not read again.
    assert "so this file adds none" in change(plan, SECURITY).new_text()
    assert not any("apt-get" in command and "update" in command for command in will_run(plan))
    assert any(command.startswith("hostname server") for command in will_run(plan))


def test_base_on_a_provider_image_adds_the_security_source_and_reads_apt_lists_again(
    tmp_path: Path,
) -> None:
    plan = plan_of("debian12-provider", "base", tmp_path)
    source = change(plan, SECURITY)
    assert source.status == "create"
    assert "Suites: bookworm-security\n" in source.new_text()
    assert "URIs: http://deb.debian.org/debian-security\n" in source.new_text()
    assert any("apt-get" in command and " update" in command for command in will_run(plan))


def test_base_on_ubuntu_24_04_names_noble(tmp_path: Path) -> None:
    plan = plan_of("ubuntu2404-fresh", "base", tmp_path)
    assert diff_lines(plan, "/etc/hostname") == ["-vps", "+server"]
    assert "noble-security, so this file adds none" in change(plan, SECURITY).new_text()
    assert plan.missing_packages == ("unattended-upgrades",)


def test_ssh_hardening_after_its_run_was_undone_plans_the_drop_in_again(tmp_path: Path) -> None:
    plan = plan_of("debian12-interrupted", "ssh-hardening", tmp_path)
    assert plan.summary() == "ssh-hardening: 1 file(s) to create"
    drop_in = change(plan, SSHD_DROP_IN)
    assert drop_in.status == "create" and drop_in.old is None
    added = diff_lines(plan, SSHD_DROP_IN)
    for line in ("+PermitRootLogin no", "+PasswordAuthentication no", "+Port 22"):
        assert line in added
    assert plan.missing_packages == () and plan.services_to_enable == ()


def test_fail2ban_after_day_one_installs_its_packages_enables_it_and_spares_the_user(
    tmp_path: Path,
) -> None:
    plan = plan_of("debian12-day-one", "fail2ban", tmp_path)
    assert plan.missing_packages == ("fail2ban", "python3-systemd")
    assert plan.services_to_enable == ("fail2ban",)
    jail = change(plan, "/etc/fail2ban/jail.d/vps-wizard.local")
    assert jail.status == "create"
    lines = jail.new_text().splitlines()
    # The address the user connects from is never banned; sshd is read from the journal.
    _, client = addresses("debian12-day-one")
    assert lines.count(f"ignoreip = 127.0.0.1/8 ::1 {client}/32") == 3
    assert "bantime = 1h" in lines and "backend = systemd" in lines
    assert "port = 22" in lines


def test_firewall_again_with_a_port_more_shows_the_one_rule_that_changes(tmp_path: Path) -> None:
    opened = session("debian12-day-one", tmp_path)
    plan = opened.plan("firewall", {**answers("firewall"), "extra_ports": "8080/tcp"})
    assert plan.summary() == "firewall: 1 file(s) to update"
    assert diff_lines(plan, "/etc/nftables.conf") == [
        "-\t\ttcp dport { 22 } ct state new accept",
        "+\t\ttcp dport { 22, 8080 } ct state new accept",
    ]
    assert plan.missing_packages == () and plan.services_to_enable == ()
