"""`vps-wizard --demo` boots the disposable host and opens the TUI on it, as a person sees it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.host.harness import REPO

pytestmark = pytest.mark.host


def screen(session: str) -> str:
    """What the terminal shows."""
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
    ).stdout


def wait_for_text(session: str, text: str, timeout: float) -> str:
    """Poll the terminal until the text shows up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never showed up; the screen:\n{screen(session)}")


def test_demo_shows_the_host_key_then_the_steps(tmp_path):
    session = f"vw-demo-{tmp_path.name[-8:]}"
    command = (
        f"XDG_STATE_HOME={tmp_path} {sys.executable} -m vps_wizard --demo; "
        f"echo exited $? > {tmp_path}/exit"
    )
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "80",
            "-y",
            "24",
            "-c",
            str(REPO),
            command,
        ],
        check=True,
    )
    try:
        shown = wait_for_text(session, "Trust this key?", 60)
        assert "SHA256:" in shown and "10.254.2.2" in shown
        subprocess.run(["tmux", "send-keys", "-t", session, "y"], check=True)
        shown = wait_for_text(session, "Admin user with your SSH key", 30)
        assert "pending" in shown
        # The demo says it does not resume: every run is a fresh machine, nothing is kept.
        assert "The demo starts from a fresh" in shown
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 30
        while not (tmp_path / "exit").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (tmp_path / "exit").read_text().strip() == "exited 0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "vpsw-demo" not in netns
