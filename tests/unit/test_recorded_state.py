"""The server's copy of the state merged into this machine's record, from a real server's
recorded answers (base and admin-user applied and verified from another laptop)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.unit.recordings import playback, recorded_facts, session
from wizard.state import ServerCopyRefused, StateStore, StepRecord

RECORDED = "debian12-interrupted"


def base_updated() -> float:
    """When the other laptop recorded base in the server's copy (its `updated`)."""
    copy = recorded_facts(RECORDED).server_state
    return float(copy["steps"]["base"]["updated"])  # type: ignore[index]


def seeded_store(home: Path, **steps: StepRecord) -> StateStore:
    """This machine's database, holding a record of the recorded server with these steps."""
    remote = playback(RECORDED)
    store = StateStore(home / "state.db")
    record, _ = store.identify(remote.host_fingerprint, remote.target.host, 22)
    store.save_host(dataclasses.replace(record, steps=steps))
    return store


def test_a_laptop_with_no_record_takes_the_steps_and_the_admin_from_the_server(
    tmp_path: Path,
) -> None:
    host = session(RECORDED, tmp_path).host
    assert host.admin_user == "admin"
    assert host.step("base").status == "verified"
    assert host.step("base").answers["fqdn"] == "server.example.net"
    assert host.step("admin-user").answers["username"] == "admin"
    assert "/etc/sudoers.d/90-vps-wizard-admin" in host.step("admin-user").files
    # Saved: the next run starts from it.
    again = StateStore(tmp_path / "state.db").load(host.address)
    assert again.step("base").status == "verified"


def test_a_newer_local_record_of_a_step_wins_over_the_servers_copy(tmp_path: Path) -> None:
    mine = StepRecord("base", "failed", {"fqdn": "mine.example.net"}, {}, base_updated() + 60, "x")
    store = seeded_store(tmp_path, base=mine)
    host = session(RECORDED, tmp_path, store).host
    assert host.step("base").status == "failed"
    assert host.step("base").answers["fqdn"] == "mine.example.net"
    assert host.step("admin-user").status == "verified"  # only the server has it


def test_an_older_local_record_of_a_step_gives_way_to_the_servers_copy(tmp_path: Path) -> None:
    old = StepRecord("base", "applied", {"fqdn": "old.example.net"}, {}, base_updated() - 3600)
    store = seeded_store(tmp_path, base=old)
    host = session(RECORDED, tmp_path, store).host
    assert host.step("base").status == "verified"
    assert host.step("base").answers["fqdn"] == "server.example.net"


def test_a_copy_edited_on_the_server_is_refused_whole_with_the_reason(tmp_path: Path) -> None:
    remote = playback(RECORDED)
    facts = remote.exchanges[0]
    assert '"version": 1,' in facts.stdout
    edited = dataclasses.replace(
        facts, stdout=facts.stdout.replace('"version": 1,', '"version": 2,')
    )
    remote = dataclasses.replace(remote, exchanges=(edited, *remote.exchanges[1:]))
    with pytest.raises(ServerCopyRefused) as refused:
        session(RECORDED, tmp_path, remote=remote)
    assert "version: not 1" in refused.value.message
    assert "/var/lib/vps-wizard/state.json" in refused.value.hint


def test_another_laptop_continues_where_the_server_says_the_series_stands(tmp_path: Path) -> None:
    opened = session("debian12-day-one", tmp_path)
    overview = {status.step.id: status for status in opened.overview()}
    for step_id in ("base", "admin-user", "ssh-hardening", "firewall"):
        assert overview[step_id].record.status == "verified"
    assert overview["fail2ban"].record.status == "pending"
    assert overview["fail2ban"].blocked_by == ()
    assert overview["vhost"].blocked_by == ("web",)
    next_step = opened.next_step()
    assert next_step is not None and next_step.id == "fail2ban"
    assert (opened.host.login_user, opened.host.admin_user) == ("admin", "admin")


def test_a_record_the_server_does_not_back_shows_nothing_applied_and_is_kept(
    tmp_path: Path,
) -> None:
    # This laptop says base is verified; the server it reaches has no trace of the wizard.
    remote = playback("debian12-reset")
    store = StateStore(tmp_path / "state.db")
    record, _ = store.identify(remote.host_fingerprint, remote.target.host, 22)
    claimed = StepRecord("base", "verified", {"fqdn": "old.example.net"}, {}, 1.0, checked=2.0)
    store.save_host(dataclasses.replace(record, steps={"base": claimed}))
    opened = session("debian12-reset", tmp_path, store)
    assert opened.reset is not None
    assert opened.reset.message == (
        "the server looks reinstalled or reset: it has no trace of vps-wizard (no "
        "/var/lib/vps-wizard/state.json, no journal of runs, no manifest of files in "
        "/var/lib/vps-wizard). This machine's record says base applied; none of it is shown "
        "as applied or verified."
    )
    assert opened.host.step("base").status == "unconfirmed"
    assert "the server does not back it: verify it, or start over" in (
        opened.host.step("base").message
    )
    # The stored record stays as it was until the user chooses.
    assert store.load(remote.target.host).step("base").status == "verified"


def test_a_file_changed_by_hand_marks_its_step_drifted_and_the_plan_puts_it_back(
    tmp_path: Path,
) -> None:
    opened = session("debian12-drifted", tmp_path)
    base = opened.host.step("base")
    assert base.status == "drifted"
    assert base.message == "changed on the server since the wizard wrote it: /etc/hosts"
    assert opened.host.step("firewall").status == "verified"
    plan = opened.plan("base")  # the answers the server's copy holds
    assert plan.summary() == "base: 1 file(s) to update"
    (hosts,) = plan.changed_files
    removed = [line for line in hosts.diff().splitlines() if line.startswith("-")][1:]
    assert removed == ["-203.0.113.9 added-by-hand"]
