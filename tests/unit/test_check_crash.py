"""A check that crashes is a failed check, never a crashed verify: a bug's traceback is kept in
the crash log and the result names the file; what the server or the network did is said as
such, with no crash log."""

from __future__ import annotations

from typing import Any

import pytest

from wizard.checks import base
from wizard.errors import WizardError


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path


def run(monkeypatch, error: Exception) -> base.CheckResult:
    def raising(_ctx: Any, _params: Any) -> base.CheckResult:
        raise error

    monkeypatch.setitem(base.REGISTRY, "test.crash", raising)
    return base.run_one(None, "test.crash", {})  # type: ignore[arg-type]


def test_a_bug_keeps_its_traceback_in_the_crash_log(monkeypatch, state_home):
    result = run(monkeypatch, KeyError("answers"))
    log = state_home / "vps-wizard" / "crash.log"
    assert result.status == "fail"
    assert result.summary == "the check could not run: KeyError: 'answers'"
    assert result.hint == f"this is a bug in the check; its traceback is in {log}"
    text = log.read_text()
    assert "check test.crash" in text and "Traceback (most recent call last)" in text
    assert "raise error" in text


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError"),
        (TimeoutError("timed out"), "timed out"),
        (WizardError("dig is missing", "install bind9-dnsutils"), "dig is missing"),
    ],
)
def test_what_the_server_or_network_did_is_said_without_a_crash_log(
    monkeypatch, state_home, error, summary
):
    result = run(monkeypatch, error)
    assert result.status == "fail" and summary in result.summary
    assert "bug" not in result.hint
    assert not (state_home / "vps-wizard" / "crash.log").exists()
