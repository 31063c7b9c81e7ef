"""The day-one steps end to end on a real Debian 12 host, headless, as a user would run them."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.host.harness import DAY_ONE, DAY_ONE_STEPS, apply_ok, checks
from tests.host.hostile import assert_no_payload_ran, toml_string
from wizard.remote import COMMAND_ROUND_TRIPS

pytestmark = pytest.mark.host
# All a key's comment may hold: letters (not only ASCII), spaces, runs of them, @ . + : -
KEY_COMMENT = "Zoë admin: a+b@laptop-1.example.org  two  spaces :-"
AUTHORIZED_KEYS = "/home/admin/.ssh/authorized_keys"


def test_day_one_applies_and_every_check_is_ok(day_one_host):
    wizard, output = day_one_host
    assert "✘" not in output, output
    for step in DAY_ONE_STEPS:
        assert f"== {step}" in output

    # Root login is closed now; without a user name the wizard logs in as the admin by itself.
    result = wizard.cli("verify", wizard.host.address, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert set(report["steps"]) == set(DAY_ONE_STEPS)
    failing = [c for checks in report["steps"].values() for c in checks if c["status"] == "fail"]
    assert failing == []
    ids = {c["check"] for checks in report["steps"].values() for c in checks}
    assert {
        "ssh.root_refused",
        "ssh.password_refused",
        "firewall.ports",
        "fail2ban.test_ban",
    } <= ids


def test_second_apply_changes_nothing_and_says_so(day_one_host):
    wizard, _ = day_one_host
    plan = wizard.cli("plan", wizard.host.address, "--answers", str(DAY_ONE))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for step in DAY_ONE_STEPS:
        assert f"{step}: nothing to change" in plan.stdout

    again = apply_ok(wizard, wizard.host.address, DAY_ONE_STEPS)
    for step in DAY_ONE_STEPS:
        assert f"== {step}: nothing to change" in again


def test_apply_json_reports_each_step_for_scripts(day_one_host):
    wizard, _ = day_one_host
    result = wizard.cli("apply", wizard.host.address, "--answers", str(DAY_ONE), "--yes", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [s["step"] for s in report["steps"]] == list(DAY_ONE_STEPS)
    assert all(s["summary"].endswith("nothing to change") for s in report["steps"])
    assert all(c["status"] != "fail" for s in report["steps"] for c in s["checks"])


def test_changing_one_answer_changes_only_its_file(day_one_host, tmp_path):
    wizard, _ = day_one_host
    answers = tmp_path / "answers.toml"
    answers.write_text(DAY_ONE.read_text().replace('bantime = "1h"', 'bantime = "1d"'))
    result = wizard.cli("plan", wizard.host.address, "--answers", str(answers), "--json")
    assert result.returncode == 2, result.stderr
    plans = {p["step"]: p for p in json.loads(result.stdout)}
    assert [s for s, p in plans.items() if p["changes"]] == ["fail2ban"]
    changed = [f for f in plans["fail2ban"]["files"] if f["status"] != "unchanged"]
    assert [f["path"] for f in changed] == ["/etc/fail2ban/jail.d/vps-wizard.local"]
    assert "-bantime = 1h" in changed[0]["diff"] and "+bantime = 1d" in changed[0]["diff"]


def test_review_costs_one_round_trip_whatever_the_number_of_files(day_one_host):
    wizard, _ = day_one_host
    session = wizard.session(None)
    try:
        assert session.stats.bucket("facts").commands == 1
        for step_id in ("base", "ssh-hardening", "fail2ban"):
            before = session.stats.bucket("review").commands
            plan = session.plan(step_id)
            assert session.stats.bucket("review").commands - before <= 2
            assert not plan.has_changes
        assert len(session.catalog.get("base").files) >= 5
    finally:
        session.close()


def test_another_laptop_continues_from_the_servers_record(day_one_host, wizard_factory):
    first, _ = day_one_host
    other = wizard_factory(first.host)
    other.trust_host()
    # The other laptop has never seen this host: it names the admin user once.
    result = other.cli("status", f"admin@{first.host.address}", "--json")
    assert result.returncode == 0, result.stderr
    status = {row["step"]: row["status"] for row in json.loads(result.stdout)["steps"]}
    assert all(status[step] == "verified" for step in DAY_ONE_STEPS), status
    # From then on it knows the admin user too.
    again = other.cli("status", first.host.address, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["admin_user"] == "admin"


def test_stats_show_round_trips_per_phase(day_one_host):
    wizard, _ = day_one_host
    result = wizard.cli("plan", wizard.host.address, "--answers", str(DAY_ONE), "--stats")
    assert result.returncode == 0
    lines = {line.split()[0]: line.split()[1:] for line in result.stderr.splitlines() if line}
    # One command: its channel, its exec request's reply and its answer.
    assert lines["facts"][0] == str(COMMAND_ROUND_TRIPS)
    assert int(lines["review"][0]) <= 2 * COMMAND_ROUND_TRIPS * len(DAY_ONE_STEPS)


def test_a_plan_read_behind_the_facts_is_the_plan_the_server_gives(day_one_host, wizard_factory):
    """The first step a command plans is guessed from the facts this laptop kept and read
    on the server behind the facts: its probe takes no round trip of its own. A laptop
    that never saw the server guesses without them; where the guess is wrong (base's files
    depend on the facts) the plan reads again, and both laptops show the same plan."""
    wizard, _ = day_one_host
    other = wizard_factory(wizard.host)
    other.trust_host()

    def plan(laptop, step: str) -> tuple[dict, dict]:
        result = laptop.cli(
            "plan", f"admin@{wizard.host.address}", "--answers", str(DAY_ONE), "--step", step,
            "--json", "--stats",
        )  # fmt: skip
        assert result.returncode in (0, 2), result.stderr
        stats = json.loads(result.stderr.strip().splitlines()[-1])["stats"]
        return json.loads(result.stdout), stats

    read_again = []
    # Steps that make no follow-up here (ssh-hardening plans the firewall again): the review
    # has nothing else to read.
    for step in ("base", "admin-user", "firewall", "fail2ban"):
        known, known_stats = plan(wizard, step)
        # Its one probe, answered from what was read behind the facts.
        assert known_stats["review"]["commands"] == 1, (step, known_stats)
        assert known_stats["review"]["round_trips"] == 0, (step, known_stats)
        fresh, fresh_stats = plan(other, step)
        assert fresh == known, step
        if fresh_stats["review"]["round_trips"]:
            read_again.append(step)
    # The wrong guess was tried: base's probe depends on the facts (its security source).
    assert read_again == ["base"]


def test_verify_begins_its_checks_beside_the_facts(day_one_host, wizard_factory):
    """With the facts this laptop kept from its last connect (read since its last apply),
    verify's checks begin while the facts script runs: no check runs twice, and each result
    is the one a laptop that kept no facts gets (its checks wait for them). When the facts
    changed since, every check runs again with the new ones."""
    wizard, _ = day_one_host
    host = wizard.host
    other = wizard_factory(host)
    other.trust_host()

    def verify(laptop) -> tuple[dict[str, str], int]:
        result = laptop.cli(
            "verify", f"admin@{host.address}", "--step", "firewall", "--step", "fail2ban",
            "--json", "--stats",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        stats = json.loads(result.stderr.strip().splitlines()[-1])["stats"]
        statuses = {c["check"]: c["status"] for cs in json.loads(result.stdout)["steps"].values()
                    for c in cs}  # fmt: skip
        return statuses, stats["verify"]["commands"]

    fresh, fresh_commands = verify(other)
    assert fresh_commands > 0 and set(fresh.values()) == {"ok"}, fresh
    verify(wizard)  # its facts read since its last apply: the next verify begins early
    assert verify(wizard) == (fresh, fresh_commands)
    name = host.exec("cat /proc/sys/kernel/hostname").stdout.strip()
    host.exec("hostname early-checks-test")
    try:
        changed, changed_commands = verify(wizard)
    finally:
        host.exec(f"hostname {shlex.quote(name)}")
    assert changed == fresh
    assert changed_commands == 2 * fresh_commands


def test_block_and_unblock_an_address(day_one_host, tmp_path):
    wizard, _ = day_one_host
    blocked = tmp_path / "block.toml"
    blocked.write_text('[firewall]\nblocked = "192.0.2.0/24, 2001:db8::/32"\n')
    apply_ok(wizard, wizard.host.address, ["firewall"], blocked)
    sets = wizard.host.exec("nft list table inet vpswizard").stdout
    assert "192.0.2.0/24" in sets and "2001:db8::/32" in sets

    unblocked = tmp_path / "unblock.toml"
    unblocked.write_text('[firewall]\nblocked = ""\n')
    apply_ok(wizard, wizard.host.address, ["firewall"], unblocked)
    sets = wizard.host.exec("nft list table inet vpswizard").stdout
    assert "192.0.2.0/24" not in sets and "2001:db8::/32" not in sets


def test_firewall_ports_waits_as_the_link_says_and_sees_a_port_let_in_by_hand(day_one_host):
    """A port that must be filtered is listened to for ten round trips of the link (0.5 s at
    least, several SYNs), not a fixed 2 s; a port let in by hand still answers within it."""
    wizard, _ = day_one_host
    host = wizard.host

    def ports_check() -> dict:
        result = wizard.cli("verify", host.address, "--step", "firewall", "--json")
        report = json.loads(result.stdout)
        (check,) = [c for c in report["steps"]["firewall"] if c["check"] == "firewall.ports"]
        return check

    quiet = ports_check()
    assert quiet["status"] == "ok", quiet
    assert quiet["seconds"] < 1.5, quiet
    # Accepted by hand, nothing listening: the RST is an answer, the port is let in.
    host.exec("nft insert rule inet vpswizard input tcp dport 31337 accept")
    try:
        leaking = ports_check()
        assert leaking["status"] == "fail", leaking
        assert "31337/tcp on IPv4 " in leaking["summary"], leaking
        assert "answers though it is not opened" in leaking["summary"], leaking
    finally:
        host.exec("systemctl reload nftables")
    assert ports_check()["status"] == "ok"


def test_blocking_your_own_address_is_refused_at_the_question(day_one_host, tmp_path):
    wizard, _ = day_one_host
    own = tmp_path / "own.toml"
    own.write_text(f'[firewall]\nblocked = "{wizard.host.gateway}/30"\n')
    result = wizard.cli("plan", wizard.host.address, "--answers", str(own))
    assert result.returncode == 1
    assert "the address you are connected from" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_exits_1_on_error_with_the_reason(day_one_host):
    wizard, _ = day_one_host
    result = wizard.cli("plan", wizard.host.address, "--step", "no-such-step")
    assert result.returncode == 1
    assert "no step no-such-step" in result.stderr and "the steps are: base" in result.stderr


def test_a_key_comment_with_spaces_and_punctuation_is_written_as_given(day_one_host, tmp_path):
    wizard, _ = day_one_host
    key_type, blob = wizard.key.with_suffix(".pub").read_text().split()[:2]
    line = f"{key_type} {blob} {KEY_COMMENT}"
    before = wizard.host.exec(f"cat {AUTHORIZED_KEYS}").stdout
    try:
        apply_ok(wizard, wizard.host.address, ["admin-user"], admin_key(tmp_path, line))
        assert wizard.host.exec(f"cat {AUTHORIZED_KEYS}").stdout == line + "\n"
        # The line still logs the admin in (a brand-new session, with sudo).
        login = checks(wizard, "admin-user")["ssh.login"]
        assert login["status"] == "ok", login
        assert_no_payload_ran(wizard.host)
    finally:
        # The session's host gets its key line back. Named: a key left out of an answers file
        # would take the answer applied last, this very line.
        apply_ok(wizard, wizard.host.address, ["admin-user"], admin_key(tmp_path, before.strip()))
    assert wizard.host.exec(f"cat {AUTHORIZED_KEYS}").stdout == before


def admin_key(folder: Path, line: str) -> Path:
    """An answers file for admin-user with this key line."""
    answers = folder / "admin-key.toml"
    answers.write_text(f'[admin-user]\nusername = "admin"\npublic_key = {toml_string(line)}\n')
    return answers
