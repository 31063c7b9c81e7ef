"""Drive the wizard against a test host the way a user would: the CLI as a process, or a Session.

Each harness has its own known_hosts and state database, like a separate laptop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.host.fixtures import boot_free
from wizard.catalog import load_catalog
from wizard.remote import Credentials, Stats, Target
from wizard.session import ConnectOptions, Session
from wizard.state import StateStore
from wizard.testhost.machine import TestHost, write_known_hosts

REPO = Path(__file__).resolve().parents[2]
DAY_ONE = REPO / "examples" / "day-one.toml"
DAY_ONE_STEPS = ("base", "admin-user", "ssh-hardening", "firewall", "fail2ban")
TEST_STEPS = Path(__file__).parent / "steps"


@dataclass
class Wizard:
    """One 'laptop': a known_hosts file, a state database and the test key, for one host."""

    host: TestHost
    home: Path
    guard_seconds: int = 15

    @property
    def known_hosts(self) -> Path:
        """This laptop's known_hosts."""
        return self.home / "known_hosts"

    @property
    def state(self) -> Path:
        """This laptop's state database."""
        return self.home / "state.db"

    @property
    def key(self) -> Path:
        """The private key the user logs in with (root's at first, then the admin's)."""
        return self.host.root_key_path

    @property
    def config_home(self) -> Path:
        """XDG_CONFIG_HOME of this laptop: holds the test-only steps as the user's own steps."""
        path = self.home / "config"
        steps = path / "vps-wizard" / "steps"
        if not steps.exists():
            steps.parent.mkdir(parents=True)
            steps.symlink_to(TEST_STEPS)
        return path

    def trust_host(self) -> None:
        """Write the host's key into known_hosts, as a user who checked it would have."""
        write_known_hosts(self.host, self.known_hosts)

    def options(self, user: str | None = "root", **changes) -> ConnectOptions:
        """ConnectOptions for this laptop."""
        return ConnectOptions(
            target=Target(self.host.address, user, changes.pop("port", None)),
            credentials=changes.pop("credentials", Credentials(str(self.key))),
            known_hosts=self.known_hosts,
            guard_seconds=self.guard_seconds,
            **changes,
        )

    def session(self, user: str | None = "root", extra_steps: bool = False, **changes) -> Session:
        """A connected Session, the catalog including the test-only steps when asked."""
        catalog = load_catalog([TEST_STEPS] if extra_steps else [])
        return Session.open(catalog, StateStore(self.state), self.options(user, **changes), Stats())

    def cli(
        self, *args: str, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `vps-wizard ARGS` as a process, with this laptop's files."""
        command, *rest = args
        argv = [
            sys.executable,
            "-m",
            "wizard.cli",
            command,
            *rest,
            "-i",
            str(self.key),
            "--known-hosts",
            str(self.known_hosts),
            "--state",
            str(self.state),
            "--guard-seconds",
            str(self.guard_seconds),
        ]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "XDG_CONFIG_HOME": str(self.config_home), **(env or {})},
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start `vps-wizard ARGS` without waiting (to kill it midway)."""
        command, *rest = args
        argv = [sys.executable, "-m", "wizard.cli", command, *rest, "-i", str(self.key)]
        argv += ["--known-hosts", str(self.known_hosts), "--state", str(self.state)]
        argv += ["--guard-seconds", str(self.guard_seconds)]
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "XDG_CONFIG_HOME": str(self.config_home), **(env or {})},
        )


def apply_ok(wizard: Wizard, target: str, steps: Sequence[str], answers: Path = DAY_ONE) -> str:
    """Apply steps through the CLI and fail the test with its output unless it exits 0."""
    args = ["apply", target, "--answers", str(answers), "--yes"]
    for step in steps:
        args += ["--step", step]
    result = wizard.cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def checks(wizard: Wizard, *steps: str) -> dict[str, dict[str, Any]]:
    """Run verify for the steps through the CLI: {check id: result}."""
    args = ["verify", wizard.host.address, "--json"]
    for step in steps:
        args += ["--step", step]
    result = wizard.cli(*args)
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    return {c["check"]: c for results in report["steps"].values() for c in results}


def assert_fails(result: dict[str, Any], *words: str) -> None:
    """A fail result with a hint, whose summary, evidence or hint mention each word."""
    assert result["status"] == "fail", result
    assert result["hint"], result
    text = " ".join((result["summary"], result["evidence"], result["hint"]))
    for word in words:
        assert word in text, (word, result)


@pytest.fixture
def wizard_factory(tmp_path: Path) -> Iterator[Callable[[TestHost], Wizard]]:
    """Make 'laptops' for hosts; each gets its own folder."""
    count = 0

    def make(host: TestHost) -> Wizard:
        nonlocal count
        count += 1
        home = tmp_path / f"laptop{count}"
        home.mkdir()
        return Wizard(host, home)

    yield make


@pytest.fixture(scope="session")
def day_one_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Wizard, str]]:
    """A host of its own with the five day-one steps applied through the CLI, and its laptop.

    Shared by the session: tests using it must leave it as they found it.
    """
    testhost = boot_free("vwd", range(32, 48))
    home = tmp_path_factory.mktemp("day-one-laptop")
    wizard = Wizard(testhost, home)
    wizard.trust_host()
    try:
        output = apply_ok(wizard, f"root@{testhost.address}", DAY_ONE_STEPS)
        yield wizard, output
    finally:
        testhost.stop()
