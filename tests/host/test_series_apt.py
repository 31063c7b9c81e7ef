"""Several steps with packages in one `apply --yes` on a real Debian 12 host (issue 13): their
packages go in one apt transaction before the first step, no daemon starts before its own
step wrote its files, and the facts are gathered once.

base (unattended-upgrades), database (mariadb-server) and maintenance (needrestart) from one
answers file. Before the apply, a drop-in for mariadb.service (its unit is not installed yet)
writes down, at every start of MariaDB, whether the database step's file was already in place:
without the hold, the package's own postinst starts MariaDB with Debian's defaults in the
middle of the transaction, before the base step's apply even began. The run adds exactly one
`Start-Date:` to apt's history, its `--stats` one facts gather, every check is ok, no
policy-rc.d or held unit is left, and a second apply changes nothing and installs nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.host.fixtures import FRESH_SLOTS, boot_free
from tests.host.harness import Wizard

pytestmark = pytest.mark.host
ANSWERS = """\
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false

[database]

[maintenance]
disk_max = 99
inodes_max = 99
"""
STEPS = ("base", "database", "maintenance")
PACKAGES = ("unattended-upgrades", "mariadb-server", "needrestart")
DATABASE_FILE = "/etc/mysql/mariadb.conf.d/90-vps-wizard.cnf"
STARTS = "/run/mariadb-starts"
# Each start of MariaDB, before anything of it runs: is the database step's file there?
OBSERVER = (
    "[Service]\n"
    # "+": as root and outside the unit's sandbox (MariaDB runs as mysql).
    f"ExecStartPre=+/bin/sh -c 'test -e {DATABASE_FILE} && echo in-place >> {STARTS} "
    f"|| echo absent >> {STARTS}'\n"
)


def history_entries(wizard: Wizard) -> list[str]:
    """apt's history, one entry per transaction (from its Start-Date line on)."""
    text = wizard.host.exec("cat /var/log/apt/history.log 2>/dev/null; true").stdout
    return ["Start-Date:" + part for part in text.split("Start-Date:")[1:]]


@dataclass
class Series:
    wizard: Wizard
    answers: str
    before: list[str]
    report: dict[str, Any]
    stats: dict[str, Any]
    output: str
    seconds: float


def apply(wizard: Wizard, answers: str) -> tuple[Any, float]:
    started = time.monotonic()
    result = wizard.cli(
        "apply", f"root@{wizard.host.address}", "--answers", answers, "--yes", "--json", "--stats"
    )
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Series]:
    testhost = boot_free("vsa", FRESH_SLOTS)
    home = tmp_path_factory.mktemp("series-apt-laptop")
    try:
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = home / "answers.toml"
        answers.write_text(ANSWERS)
        testhost.exec(
            "mkdir -p /etc/systemd/system/mariadb.service.d && "
            "cat > /etc/systemd/system/mariadb.service.d/observe.conf",
            input=OBSERVER,
        )
        before = history_entries(wizard)
        result, seconds = apply(wizard, str(answers))
        # Measured, also on a commit without the whole-run install (it then fails below).
        print(f"series apply: {seconds:.1f} s, apt transactions: ", end="")
        print(len(history_entries(wizard)) - len(before))
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        stats = json.loads(result.stderr.strip().splitlines()[-1])["stats"]
        yield Series(
            wizard, str(answers), before, json.loads(result.stdout), stats, result.stderr, seconds
        )
    finally:
        testhost.stop()


def test_the_runs_packages_go_in_one_apt_transaction_and_the_facts_are_read_once(series):
    added = history_entries(series.wizard)[len(series.before) :]
    assert len(added) == 1, added
    # All three steps' packages, in series order, in that one transaction.
    commandline = next(line for line in added[0].splitlines() if line.startswith("Commandline"))
    assert commandline.endswith("install " + " ".join(PACKAGES)), commandline
    assert series.stats["facts"]["commands"] == 1, series.stats
    report = series.report
    assert report["ok"] is True
    assert [step["step"] for step in report["steps"]] == list(STEPS)
    for step in report["steps"]:
        assert step["checks"], step
        for check in step["checks"]:
            assert check["status"] == "ok", (step["step"], check)


def test_no_daemon_started_before_its_step_wrote_its_files(series):
    host = series.wizard.host
    # Every start of MariaDB found the database step's file in place; it runs now.
    starts = host.exec(f"cat {STARTS}").stdout.split()
    assert starts and set(starts) == {"in-place"}, starts
    assert host.exec("systemctl is-active mariadb").stdout.strip() == "active"
    # base's unattended-upgrades, held back as well, was started by base's apply.
    active = host.exec("systemctl is-active unattended-upgrades", check=False).stdout.strip()
    assert active == "active"
    # The run's own journal: the install ran as a run of its own, and said what it held.
    runs = host.exec(
        "cd /var/lib/vps-wizard/runs && grep -lx packages */step | cut -d / -f 1"
    ).stdout.split()
    assert len(runs) == 1, runs
    journal = f"/var/lib/vps-wizard/runs/{runs[0]}"
    assert host.exec(f"cat {journal}/status").stdout.strip() == "done"
    log = host.exec(f"cat {journal}/log").stdout
    held_line = next(line for line in log.splitlines() if "held back until" in line)
    assert "mariadb" in held_line and "unattended-upgrades" in held_line, log
    # Nothing is held any more, and the hold itself is gone.
    held = host.exec("cat /run/vps-wizard/held 2>/dev/null; true").stdout
    assert held.strip() == "", held
    assert host.exec("test -e /usr/sbin/policy-rc.d", check=False).returncode == 1


def test_a_second_apply_changes_and_installs_nothing(series):
    count = len(history_entries(series.wizard))
    result, _ = apply(series.wizard, series.answers)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert [step["summary"] for step in report["steps"]] == [
        f"{step}: nothing to change" for step in STEPS
    ]
    assert len(history_entries(series.wizard)) == count
