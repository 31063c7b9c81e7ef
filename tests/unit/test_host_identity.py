"""Local records keyed by the server's identity (its host key), reached by address and port.

An earlier version keyed them by address alone: two servers behind one address on two ports
shared one record, and a reinstalled server inherited the old one's claims.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from wizard.resume import unconfirmed, verified_only_when_backed
from wizard.state import HostRecord, StateStore, StepRecord

KEY_A = "SHA256:" + "A" * 43
KEY_B = "SHA256:" + "B" * 43
BASE = StepRecord("base", "verified", {"fqdn": "vps.example.org"}, {"/etc/hosts": "1" * 64}, 100.0)


def old_database(path: Path) -> None:
    """A state database as the first version wrote it: keyed by address, no new columns."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE hosts (key TEXT PRIMARY KEY, address TEXT, port INTEGER,
            login_user TEXT, admin_user TEXT);
        CREATE TABLE steps (host TEXT, step_id TEXT, status TEXT, answers TEXT, files TEXT,
            updated REAL, message TEXT, PRIMARY KEY (host, step_id));
        CREATE TABLE runs (host TEXT, run_id TEXT, step_id TEXT, status TEXT, message TEXT,
            ended REAL);
        INSERT INTO hosts VALUES ('192.0.2.10', '192.0.2.10', 2222, 'alice', 'alice');
        INSERT INTO steps VALUES ('192.0.2.10', 'base', 'verified', '{"fqdn": "a.example"}',
            '{}', 100.0, '');
        INSERT INTO runs VALUES ('192.0.2.10', 'run-1', 'base', 'done', '', 100.0);
        """
    )
    db.commit()
    db.close()


def test_a_record_of_the_first_version_is_taken_over_by_the_server_that_answers_there(tmp_path):
    path = tmp_path / "state.db"
    old_database(path)
    store = StateStore(path)
    # Before connecting: found by address (and its port), for the admin to log in as.
    known = store.reached_at("192.0.2.10")
    assert known is not None and known.admin_user == "alice" and known.port == 2222
    record, previous = store.identify(KEY_A, "192.0.2.10", 2222)
    assert previous is None
    assert record.key == KEY_A
    assert record.step("base").status == "verified"
    assert record.step("base").answers == {"fqdn": "a.example"}
    assert store.runs(KEY_A) == [("run-1", "base", "done", "")]
    assert store.runs("192.0.2.10") == []
    # Taken over once: the next connect finds it by its identity.
    again, _ = store.identify(KEY_A, "192.0.2.10", 2222)
    assert again.step("base").answers == {"fqdn": "a.example"}


def test_two_servers_on_one_address_through_two_ports_keep_two_records(tmp_path):
    store = StateStore(tmp_path / "state.db")
    first, _ = store.identify(KEY_A, "198.51.100.1", 2201)
    store.save_host(HostRecord(first.key, first.address, 2201, steps={"base": BASE}, seen=1.0))
    second, previous = store.identify(KEY_B, "198.51.100.1", 2202)
    assert previous is None
    assert second.steps == {}
    store.save_host(HostRecord(second.key, second.address, 2202, admin_user="bob", seen=2.0))
    assert store.reached_at("198.51.100.1", 2201).key == KEY_A  # type: ignore[union-attr]
    assert store.reached_at("198.51.100.1", 2202).admin_user == "bob"  # type: ignore[union-attr]
    assert store.reached_at("198.51.100.1", 2201).steps == {"base": BASE}  # type: ignore[union-attr]
    # Without a port, two records at one address and none on 22: neither is guessed.
    assert store.reached_at("198.51.100.1") is None


def test_a_server_that_moved_keeps_its_record(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.save_host(HostRecord(KEY_A, "192.0.2.10", 22, steps={"base": BASE}))
    record, previous = store.identify(KEY_A, "203.0.113.5", 22)
    assert previous is None
    assert record.address == "203.0.113.5"
    assert record.steps == {"base": BASE}


def test_a_new_host_key_at_a_known_address_is_a_new_server_and_names_the_old_record(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.save_host(HostRecord(KEY_A, "192.0.2.10", 22, admin_user="alice", steps={"base": BASE}))
    record, previous = store.identify(KEY_B, "192.0.2.10", 22)
    assert record.key == KEY_B and record.steps == {} and record.admin_user == ""
    assert previous is not None and previous.key == KEY_A
    assert previous.steps == {"base": BASE}


def test_archiving_keeps_the_record_and_its_runs_but_no_longer_finds_it(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.save_host(HostRecord(KEY_A, "192.0.2.10", 22, admin_user="alice", steps={"base": BASE}))
    store.record_run(KEY_A, "run-1", "base", "done", "")
    archived_key = store.archive(KEY_A)
    assert archived_key
    assert store.reached_at("192.0.2.10") is None
    record, previous = store.identify(KEY_A, "192.0.2.10", 22)
    assert record.steps == {} and previous is None
    (kept,) = store.archived("192.0.2.10")
    assert kept.key == archived_key and kept.archived > 0
    assert kept.steps == {"base": BASE} and kept.admin_user == "alice"
    assert store.runs(archived_key) == [("run-1", "base", "done", "")]
    assert store.archive("SHA256:nothing-stored") == ""


def test_the_check_time_is_stored_and_read_back(tmp_path):
    store = StateStore(tmp_path / "state.db")
    step = StepRecord("base", "verified", {}, {}, 100.0, "", 123.5)
    store.save_host(HostRecord(KEY_A, "192.0.2.10", 22, steps={"base": step}))
    record, _ = store.identify(KEY_A, "192.0.2.10", 22)
    assert record.step("base").checked == 123.5


def test_verified_is_kept_only_with_its_check_time_and_its_files_in_the_manifest():
    timed = StepRecord("base", "verified", {}, {"/etc/hosts": "1" * 64}, 100.0, "", 150.0)
    untimed = StepRecord("admin-user", "verified", {}, {}, 100.0)
    steps = {"base": timed, "admin-user": untimed}
    kept = verified_only_when_backed(steps, frozenset({"/etc/hosts"}))
    assert kept["base"].status == "verified"
    assert kept["admin-user"].status == "applied"
    assert "no time of a check" in kept["admin-user"].message
    missing = verified_only_when_backed(steps, frozenset())
    assert missing["base"].status == "applied"
    assert "/etc/hosts" in missing["base"].message


def test_claims_the_server_does_not_back_becomeunconfirmed():
    steps = {"base": BASE, "firewall": StepRecord("firewall")}
    shown = unconfirmed(steps, ["base"])
    assert shown["base"].status == "unconfirmed"
    assert shown["base"].checked == 0.0
    assert "verify it, or start over" in shown["base"].message
    assert shown["firewall"] == steps["firewall"]
