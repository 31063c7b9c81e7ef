"""Checks begun before the facts are in (wizard.earlychecks): a result is taken only for a
check that would run now just as it ran, and only once; what the facts carry of the wizard's
own traces does not count, and no check reads it; the early checks count in `verify`."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from wizard.checks import load_checks
from wizard.checks.base import REGISTRY, CheckContext, CheckResult, ok
from wizard.earlychecks import EarlyChecks
from wizard.endpoint import Stats
from wizard.facts import parse_facts
from wizard.remote import Credentials
from wizard.resume import ServerTraces
from wizard.state import StateStore

CHECK = "system.hostname"  # a real id, its function replaced for these tests
load_checks([CHECK])  # registered now: EarlyChecks' own import would put the real one back


class Counted:
    """Stands for the session's connector: counts the commands the checks run, in the phase of
    the thread that runs them, as Remote does."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats


@pytest.fixture
def runs(monkeypatch) -> Counter[str]:
    """How many times the check ran, by its `name` parameter; it says what it saw."""
    ran: Counter[str] = Counter()

    def seen(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
        ran[params["name"]] += 1
        ctx.remote.stats.bucket().commands += 1  # type: ignore[attr-defined]
        return ok(CHECK, f"{params['name']} on port {ctx.facts.ssh_port}")

    monkeypatch.setitem(REGISTRY, CHECK, seen)
    return ran


def context(remote: Counted, **facts: Any) -> CheckContext:
    """A check's context on the session `remote`, with these facts."""
    return CheckContext(
        remote=remote,  # type: ignore[arg-type]
        facts=dataclasses.replace(parse_facts(""), **facts),
        address="203.0.113.9",
        port=22,
        credentials=Credentials(),
        known_hosts=Path("/nonexistent"),
        answers={"base": {"hostname": "web1"}},
    )


def specs(*names: str) -> list[tuple[str, dict[str, Any]]]:
    return [(CHECK, {"name": name}) for name in names]


def test_a_check_that_would_run_the_same_is_taken_not_run_again(runs) -> None:
    stats = Stats()
    remote = Counted(stats)
    early = EarlyChecks(context(remote), specs("a", "b"), ["base", "base"], stats)
    taken = early.take(context(remote), specs("b", "a"), ["base", "base"])
    assert {i: r.summary for i, r in taken.items()} == {0: "b on port 22", 1: "a on port 22"}
    assert runs == {"a": 1, "b": 1}
    # Taken once: a second verify in the same session runs its checks itself.
    assert early.take(context(remote), specs("a"), ["base"]) == {}


def test_other_parameters_or_another_step_are_not_taken(runs) -> None:
    stats = Stats()
    remote = Counted(stats)
    early = EarlyChecks(context(remote), specs("a", "b"), ["base", "base"], stats)
    taken = early.take(context(remote), specs("a", "c", "b"), ["base", "base", "admin-user"])
    assert list(taken) == [0]


@pytest.mark.parametrize(
    "changed",
    [
        {"ssh_port": 2222},
        {"ipv6": ("2001:db8::1",)},
        {"hostname": "web2"},
        {"unfinished_runs": ("20261207-1",)},
    ],
)
def test_facts_that_changed_since_the_last_connect_take_nothing(runs, changed) -> None:
    stats = Stats()
    remote = Counted(stats)
    early = EarlyChecks(context(remote), specs("a"), ["base"], stats)
    assert early.take(context(remote, **changed), specs("a"), ["base"]) == {}


def test_other_answers_take_nothing(runs) -> None:
    stats = Stats()
    remote = Counted(stats)
    early = EarlyChecks(context(remote), specs("a"), ["base"], stats)
    now = dataclasses.replace(context(remote), answers={"base": {"hostname": "web2"}})
    assert early.take(now, specs("a"), ["base"]) == {}


def test_the_wizards_own_traces_in_the_facts_do_not_count(runs) -> None:
    """Every verify rewrites the server's copy of the record."""
    stats = Stats()
    remote = Counted(stats)
    early = EarlyChecks(context(remote), specs("a"), ["base"], stats)
    now = context(
        remote,
        server_state={"steps": {"base": {"status": "verified"}}},
        traces=ServerTraces(True, True, frozenset({"/etc/ssh/sshd_config"})),
    )
    assert list(early.take(now, specs("a"), ["base"])) == [0]


def test_dropped_results_are_not_taken(runs) -> None:
    stats = Stats()
    remote = Counted(stats)
    early = EarlyChecks(context(remote), specs("a"), ["base"], stats)
    early.drop()
    assert early.take(context(remote), specs("a"), ["base"]) == {}


def test_the_early_checks_count_in_verify_while_the_facts_count_in_facts(monkeypatch) -> None:
    stats = Stats()
    remote = Counted(stats)
    started, release = threading.Event(), threading.Event()

    def slow(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
        started.set()
        release.wait(5)
        ctx.remote.stats.bucket().commands += 1  # type: ignore[attr-defined]
        return ok(CHECK, "done")

    monkeypatch.setitem(REGISTRY, CHECK, slow)
    early = EarlyChecks(context(remote), specs("a", "b"), ["base", "base"], stats)
    assert started.wait(5)
    with stats.phase("facts"):
        stats.bucket().commands += 1
        release.set()
        taken = early.take(context(remote), specs("a", "b"), ["base", "base"])
    assert len(taken) == 2
    assert stats.phases["facts"].commands == 1
    assert stats.phases["verify"].commands == 2


def test_no_check_reads_the_wizards_traces_from_the_facts() -> None:
    """What wizard.earlychecks leaves out of its comparison must stay unread by checks."""
    sources = Path(__file__).resolve().parents[2] / "wizard"
    readers = [
        path.name
        for folder in ("checks", "probes")
        for path in sorted((sources / folder).glob("*.py"))
        if re.search(r"\b(server_state|traces)\b", path.read_text())
    ]
    assert readers == []


def test_facts_read_before_this_machine_changed_the_server_are_stale(tmp_path, monkeypatch):
    """Facts kept from before an apply would make every check begun early run again."""
    clock = iter(range(1, 100))
    monkeypatch.setattr("wizard.state.time.time", lambda: float(next(clock)))
    store = StateStore(tmp_path / "state.db")
    store.save_facts("SHA256:x", "digest", "kernel=6.1\n")
    assert not store.changed_since_facts("SHA256:x")
    store.record_run("SHA256:x", "20261207-1", "base", "applied", "")
    assert store.changed_since_facts("SHA256:x")
    store.save_facts("SHA256:x", "digest", "kernel=6.1\n")
    assert not store.changed_since_facts("SHA256:x")
    store.record_run("SHA256:other", "20261207-2", "base", "applied", "")
    assert not store.changed_since_facts("SHA256:x")
