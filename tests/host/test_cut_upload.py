"""A cut upload runs nothing (finding 4).

When the wizard dies in the middle of sending a script, its kernel closes the link cleanly: the
server receives a prefix of the script and then an end of file. A shell reading the script
line by line would run that prefix, its cut-off last line included (`base64 -d > /etc/hosts`
emptied the live file). Here a relay forwards exactly N bytes of the wizard's side and then
closes both sides, for N spread across a real apply that replaces files already there (the base
step's /etc/hosts and /etc/hostname; a test step's 150 KB file, whose upload spans several SSH
packets): every managed file stays old or becomes new whole, no run starts from a part of its
script, and the next normal run succeeds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.harness import TEST_STEPS, Wizard, apply_ok
from wizard.catalog import load_catalog
from wizard.errors import WizardError
from wizard.facts import STATE_DIR
from wizard.journal import FINAL
from wizard.remote import Stats, Target
from wizard.session import Session
from wizard.state import StateStore
from wizard.testhost.machine import write_known_hosts
from wizard.testhost.relay import DelayRelay

pytestmark = pytest.mark.host
CUT_POINTS = 10


@dataclass(frozen=True)
class Case:
    """A step that replaces files that already exist, and two sets of answers to swap between."""

    step: str
    answers: tuple[dict[str, object], dict[str, object]]
    last: dict[str, object]
    # A file whose content tells which answers are in place, and that content for each set.
    witness: str
    witnessed: tuple[str, str, str]


BASE = Case(
    "base",
    (
        {"fqdn": "one.example.net", "timezone": "UTC", "upgrade": False},
        {"fqdn": "two.example.net", "timezone": "UTC", "upgrade": False},
    ),
    {"fqdn": "three.example.net", "timezone": "UTC", "upgrade": False},
    "/etc/hostname",
    ("one\n", "two\n", "three\n"),
)
# About 150 KB: its upload spans several SSH packets, so a cut inside it hands sshd (and,
# without the bootstrap, a shell) a prefix of the script.
LARGE = Case(
    "large-write",
    ({"text": "first"}, {"text": "second"}),
    {"text": "third"},
    "/etc/vps-wizard-test/small.conf",
    ("word = first\n", "word = second\n", "word = third\n"),
)


def answers_file(tmp_path: Path, step: str, answers: dict[str, object]) -> Path:
    """The answers as a TOML answers file for the CLI."""
    lines = [f"[{step}]"]
    for name, value in answers.items():
        lines.append(f"{name} = {str(value).lower() if isinstance(value, bool) else repr(value)}")
    path = tmp_path / f"{step}-{len(list(tmp_path.iterdir()))}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def relayed(fresh_testhost, wizard_factory) -> Iterator[tuple[Wizard, DelayRelay]]:
    """A host and a relay in front of its sshd that the wizard's laptop trusts."""
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    with DelayRelay(fresh_testhost.address, fresh_testhost.port, delay_s=0.0) as relay:
        assert relay.address is not None
        write_known_hosts(fresh_testhost, wizard.known_hosts, also=[relay.address])
        yield wizard, relay


def relayed_session(wizard: Wizard, relay: DelayRelay) -> Session:
    """A Session whose SSH connection goes through the relay, the test steps in its catalog."""
    assert relay.address is not None
    host, port = relay.address
    options = dataclasses.replace(wizard.options(), target=Target(host, "root", port))
    return Session.open(load_catalog([TEST_STEPS]), StateStore(wizard.state), options, Stats())


def server_files(wizard: Wizard, paths: list[str]) -> dict[str, str | None]:
    """Each file's content on the server (read without SSH); None when absent."""
    found = {}
    for path in paths:
        result = wizard.host.exec(f"cat {path}", check=False)
        found[path] = result.stdout if result.returncode == 0 else None
    return found


def runs(wizard: Wizard) -> set[str]:
    """The run ids in the server's journal."""
    listing = wizard.host.exec(f"ls {STATE_DIR}/runs 2>/dev/null", check=False).stdout
    return set(listing.split())


def run_status(wizard: Wizard, run_id: str) -> str:
    return wizard.host.exec(f"cat {STATE_DIR}/runs/{run_id}/status", check=False).stdout.strip()


def settle(wizard: Wizard, timeout: float = 60) -> None:
    """Wait until no script of the wizard and no detached apply runs on the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The bracket keeps pgrep from finding the shell that runs it.
        bootstrap = wizard.host.exec("pgrep -f 'VW-[R]EADY'", check=False).returncode == 0
        units = wizard.host.exec(
            "systemctl list-units --no-legend --state=active 'vps-wizard-apply-*'", check=False
        ).stdout.strip()
        if not bootstrap and not units:
            return
        time.sleep(0.2)
    raise AssertionError("the server still runs the wizard's scripts a minute after the cut")


def staged_leftovers(wizard: Wizard, paths: list[str]) -> str:
    folders = " ".join(sorted({path.rsplit("/", 1)[0] or "/" for path in paths}))
    return wizard.host.exec(f"ls -a {folders} | grep -F .vw-new. || true").stdout.strip()


def witness(wizard: Wizard, case: Case) -> str | None:
    return server_files(wizard, [case.witness])[case.witness]


@pytest.mark.parametrize("case", [BASE, LARGE], ids=lambda case: case.step)
def test_a_cut_upload_runs_nothing_and_the_next_run_succeeds(relayed, tmp_path, case: Case):
    wizard, relay = relayed
    apply_ok(
        wizard,
        f"root@{wizard.host.address}",
        [case.step],
        answers_file(tmp_path, case.step, case.answers[0]),
    )
    assert witness(wizard, case) == case.witnessed[0]
    # A full apply through the relay: how many bytes the wizard sends for it.
    session = relayed_session(wizard, relay)
    plan = session.plan(case.step, case.answers[1])
    managed = [f.dest for f in plan.files]
    sent_before = relay.bytes_up
    session.apply(plan)
    full = relay.bytes_up - sent_before
    session.close()
    settle(wizard)
    assert witness(wizard, case) == case.witnessed[1]
    print(f"a full apply of {case.step} sends {full} bytes")
    current = 1

    for point in range(CUT_POINTS):
        cut_at = full * (2 * point + 1) // (2 * CUT_POINTS)
        session = relayed_session(wizard, relay)
        plan = session.plan(case.step, case.answers[1 - current])
        assert case.witness in {f.dest for f in plan.changed_files}
        old = server_files(wizard, managed)
        new = {f.dest: f.new.decode() for f in plan.files}
        runs_before = runs(wizard)
        cuts = relay.cuts
        relay.cut_after(cut_at)
        try:
            session.apply(plan)
        except WizardError as error:
            outcome = f"refused: {error.message}"
        else:
            outcome = "applied"
        finally:
            session.close()
        assert relay.cuts == cuts + 1, f"the apply sent fewer than {cut_at} bytes"
        settle(wizard)
        now = server_files(wizard, managed)
        started = runs(wizard) - runs_before
        where = f"cut at byte {cut_at} of {full} ({outcome})"
        print(where, "runs started:", sorted(started))
        for path in managed:
            assert now[path] in (old[path], new[path]), (where, path, (now[path] or "")[:200])
        assert staged_leftovers(wizard, managed) == "", where
        if not started:
            # Nothing of the script ran: not even the journal folder its first lines make.
            assert now == old, where
            continue
        # The script had arrived whole before the cut: its run is a whole run.
        statuses = {run_status(wizard, run_id) for run_id in started}
        assert statuses <= FINAL, (where, statuses)
        if statuses == {"done"}:
            assert now == new, where
            current = 1 - current
        else:
            assert now == old, (where, statuses)

    # A normal run, without the relay, finds the server sound and applies.
    final = apply_ok(
        wizard,
        f"root@{wizard.host.address}",
        [case.step],
        answers_file(tmp_path, case.step, case.last),
    )
    assert "Traceback" not in final
    assert witness(wizard, case) == case.witnessed[2]
