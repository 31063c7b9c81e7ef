"""What the CLI writes when the server's text holds escape sequences: shown, never sent raw.

The commands run through `main()` with a session that answers like a real one (real catalog,
real Plan and FileChange) but holds hostile server text: an OSC title and an OSC 52 clipboard
sequence in /etc/hosts, in os-release and in a step's message from the server's state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wizard import cli
from wizard.answers import Answers, validate_answers
from wizard.catalog import Catalog, load_catalog
from wizard.checks.base import CheckResult
from wizard.followups import Outdated
from wizard.plan import FileChange, Plan
from wizard.remote import Stats
from wizard.serverfiles import RemoteFile
from wizard.session import StepStatus
from wizard.state import HostRecord, StepRecord
from wizard.steps import Step

OSC_TITLE = "\x1b]0;owned\x07"
OSC_CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
HOSTILE = f"{OSC_TITLE}{OSC_CLIPBOARD}"
SHOWN = "\\x1b]0;owned\\x07\\x1b]52;c;cm0gLXJmIH4=\\x07"
HOSTS = f"127.0.0.1\tlocalhost\n192.0.2.10\tweb {HOSTILE}\n"
OS_PRETTY = f"Debian GNU/Linux 12 {HOSTILE}"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The shipped steps."""
    return load_catalog()


BASE_ANSWERS = {
    "fqdn": "vps.example.org",
    "timezone": "UTC",
    "locale": "C.UTF-8",
    "upgrade": True,
    "auto_reboot": False,
}


def hosts_plan(catalog: Catalog) -> Plan:
    """A real plan of the base step whose /etc/hosts on the server holds the sequences."""
    step = catalog.get("base")
    answers = validate_answers(step, BASE_ANSWERS)
    spec = next(spec for spec in step.files if spec.template == "hosts.j2")
    old = RemoteFile("/etc/hosts", HOSTS.encode(), "0644", "root", "root")
    change = FileChange(spec, "/etc/hosts", b"127.0.0.1\tlocalhost\n", old)
    return Plan(step, answers, (change,), (), (), (), step.packages)


@dataclass
class FakeFacts:
    os_pretty: str = OS_PRETTY
    packages: frozenset[str] = frozenset()
    ssh_port: int = 22


@dataclass
class FakeRemote:
    user: str = "root"


@dataclass
class FakeStore:
    def runs(self, _key: str) -> list[tuple[str, str, str, str]]:
        return [("run-1", "base", "failed", f"validate said {HOSTILE}")]


@dataclass
class FakeSession:
    """The part of Session the plan, status and verify commands use."""

    catalog: Catalog
    facts: FakeFacts = field(default_factory=FakeFacts)
    host: HostRecord = field(
        default_factory=lambda: HostRecord("192.0.2.10", "192.0.2.10", 22, admin_user="alice")
    )
    remote: FakeRemote = field(default_factory=FakeRemote)
    store: FakeStore = field(default_factory=FakeStore)
    stats: Stats = field(default_factory=Stats)
    before_apply: dict[str, HostRecord] = field(default_factory=dict)

    def overview(self) -> list[StepStatus]:
        base = self.catalog.get("base")
        return [StepStatus(base, StepRecord("base", "failed", message=f"sshd -t: {HOSTILE}"))]

    def validate(self, step: Step, raw: Mapping[str, Any]) -> Answers:
        return validate_answers(step, {**BASE_ANSWERS, **raw})

    def plan(self, step_id: str, _raw: Mapping[str, Any] | None = None) -> Plan:
        assert step_id == "base"
        return hosts_plan(self.catalog)

    def outdated_by(self, _step_id: str) -> dict[str, Outdated]:
        return {}

    def sshd_port_after(self, _plan: Plan) -> int:
        return self.facts.ssh_port

    def verify(self, step_ids: list[str]) -> dict[str, list[CheckResult]]:
        return {
            step_id: [
                CheckResult(
                    f"{step_id}.hostname",
                    "fail",
                    f"hostname is {HOSTILE} | not vps",
                    f"hostname -f: {HOSTILE}",
                    f"apply {step_id} again {OSC_TITLE}",
                )
            ]
            for step_id in step_ids
        }

    def close(self) -> None:
        pass


@pytest.fixture
def run(catalog, monkeypatch, tmp_path, capsys):
    """Run `vps-wizard ARGS` against the fake session: (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "open_session", lambda *_: FakeSession(catalog))

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([*args, "--state", str(tmp_path / "state.db")])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def assert_no_control_bytes(*outputs: str) -> None:
    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output, output


def test_plan_shows_the_sequences_in_a_file_visibly(run):
    code, out, err = run("plan", "192.0.2.10", "--step", "base")
    assert code == 2
    assert_no_control_bytes(out, err)
    assert f"-192.0.2.10\tweb {SHOWN}\n" in out


def test_plan_json_holds_the_exact_server_text(run):
    code, out, err = run("plan", "192.0.2.10", "--step", "base", "--json", "--stats")
    assert code == 2
    assert_no_control_bytes(out, err)
    [plan] = json.loads(out)
    assert f"-192.0.2.10\tweb {HOSTILE}\n" in plan["files"][0]["diff"]
    assert "stats" in json.loads(err)


def test_status_shows_os_release_and_the_step_message_visibly(run):
    code, out, err = run("status", "192.0.2.10")
    assert code == 0
    assert_no_control_bytes(out, err)
    assert f"Debian GNU/Linux 12 {SHOWN}" in out
    assert f"(sshd -t: {SHOWN})" in out


def test_status_json_holds_the_exact_step_message(run):
    code, out, err = run("status", "192.0.2.10", "--json")
    assert code == 0
    assert_no_control_bytes(out, err)
    document = json.loads(out)
    assert document["os"] == OS_PRETTY
    assert document["steps"][0]["message"] == f"sshd -t: {HOSTILE}"
    assert document["recent_runs"][0]["message"] == f"validate said {HOSTILE}"


def test_verify_output_and_markdown_report_show_the_sequences_visibly(run, tmp_path: Path):
    report = tmp_path / "report.md"
    code, out, err = run("verify", "192.0.2.10", "--step", "base", "--report", str(report))
    assert code == 1
    assert_no_control_bytes(out, err)
    assert f"      | hostname -f: {SHOWN}" in out
    text = report.read_text()
    assert_no_control_bytes(text)
    # One table row per check: the '|' from the server does not open a column.
    assert f"| ✘ | base.hostname | hostname is {SHOWN} \\| not vps | apply base again" in text


def test_json_report_holds_the_exact_server_text(run, tmp_path: Path):
    report = tmp_path / "report.json"
    run("verify", "192.0.2.10", "--step", "base", "--report", str(report))
    assert_no_control_bytes(report.read_text())
    [result] = json.loads(report.read_text())["steps"]["base"]
    assert result["evidence"] == f"hostname -f: {HOSTILE}"


def test_an_error_quoting_the_server_is_shown_visibly(catalog, monkeypatch, tmp_path, capsys):
    def refuse(*_: object) -> None:
        raise cli.WizardError(f"sshd -t said: {OSC_TITLE}", f"fix {OSC_CLIPBOARD}")

    monkeypatch.setattr(cli, "open_session", refuse)
    assert cli.main(["status", "192.0.2.10", "--state", str(tmp_path / "s.db")]) == 1
    err = capsys.readouterr().err
    assert_no_control_bytes(err)
    assert "sshd -t said: \\x1b]0;owned\\x07" in err
