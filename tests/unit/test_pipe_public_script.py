"""A public script (the facts script) opening the session's pipe as root comes in the pipe's
command line, one round trip sooner; every other script still travels on stdin only. The loop
runs in a local `sh` started from the very command line Remote would send sshd."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.unit.test_pipe import CONNECTION, LocalChannel
from wizard.endpoint import Credentials, Stats, Target
from wizard.publicscript import PublicScript
from wizard.remote import COMMAND_ROUND_TRIPS, PIPE_LOOP, PIPE_ROUND_TRIPS, Remote
from wizard.shell import code, sh

FACTS_LIKE = PublicScript(code('echo "facts for $1"; echo note >&2'))


class ExecChannel(LocalChannel):
    """A channel whose exec_command starts the command line in a local shell, as sshd would
    (with $SSH_CONNECTION set); what is written to its stdin is kept."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.written: list[bytes] = []
        self.closed = False

    def exec_command(self, line: str) -> None:
        self.lines.append(line)
        self.process = subprocess.Popen(
            ["sh", "-c", line],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "SSH_CONNECTION": CONNECTION},
        )

    def sendall(self, data: bytes) -> None:
        self.written.append(data)
        super().sendall(data)

    def exit_status_ready(self) -> bool:
        return self.closed or super().exit_status_ready()


def remote_as(user: str) -> tuple[Remote, list[ExecChannel]]:
    """A Remote logged in as `user` whose channels are local shells (sudo stands in as a
    shell function that runs the rest: no sudo here)."""
    remote = Remote(None, Target("pipe.test", user), user, Credentials(), Stats(), "")  # type: ignore[arg-type]
    opened: list[ExecChannel] = []

    def open_channel(_deadline: float = 0.0) -> ExecChannel:
        opened.append(ExecChannel())
        return opened[-1]

    remote._open_channel = open_channel  # type: ignore[assignment, method-assign]
    remote._session_in_slot = open_channel  # type: ignore[assignment, method-assign]
    remote._release_channel = lambda channel: channel.close()  # type: ignore[method-assign]
    return remote, opened


@pytest.fixture
def as_root() -> Iterator[tuple[Remote, list[ExecChannel]]]:
    remote, opened = remote_as("root")
    yield remote, opened
    for channel in opened:
        channel.close()


def test_a_public_script_opening_the_pipe_comes_in_its_command_line(as_root) -> None:
    remote, opened = as_root
    result = remote.run(FACTS_LIKE)
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        f"facts for {CONNECTION}\n",
        "note\n",
    )
    (channel,) = opened
    assert channel.written == []  # nothing on stdin: the script was in the command line
    assert 'echo "facts for $1"' in channel.lines[0]
    assert remote.stats.bucket().round_trips == COMMAND_ROUND_TRIPS - 1
    # The pipe goes on: the next script travels on stdin, one round trip.
    assert remote.run(code("echo next")).stdout == "next\n"
    assert len(opened) == 1 and len(channel.written) == 1
    assert remote.stats.bucket().round_trips == COMMAND_ROUND_TRIPS - 1 + PIPE_ROUND_TRIPS


def test_any_other_script_opening_the_pipe_travels_on_stdin(as_root) -> None:
    remote, opened = as_root
    secret_file = sh("printf %s {value} > /dev/null; echo written", value="s3cret-value")
    assert remote.run(secret_file).stdout == "written\n"
    (channel,) = opened
    assert "s3cret-value" not in channel.lines[0]
    assert b"s3cret-value" in channel.written[0]
    assert remote.stats.bucket().round_trips == COMMAND_ROUND_TRIPS


@pytest.mark.usefixtures("stand_in_sudo")
def test_a_public_script_is_not_put_on_sudos_command_line() -> None:
    # sudo writes its command line to the server's log: as another user, stdin as always.
    remote, opened = remote_as("admin")
    try:
        assert remote.run(FACTS_LIKE).stdout == f"facts for {CONNECTION}\n"
        (channel,) = opened
        assert channel.lines[0].startswith("sudo -n -- ")
        assert "facts for" not in channel.lines[0]
        assert b"facts for" in channel.written[0]
        assert remote.stats.bucket().round_trips == COMMAND_ROUND_TRIPS
    finally:
        for channel in opened:
            channel.close()


def test_a_command_line_script_whose_digest_does_not_match_is_not_run() -> None:
    script = "echo ran"

    def loop_given(digest: str, nonce: str) -> subprocess.CompletedProcess[bytes]:
        argv = [CONNECTION, str(len(script)), digest, nonce, script]
        return subprocess.run(
            ["sh", "-c", PIPE_LOOP, "vps-wizard", *argv],
            input=b"",
            capture_output=True,
            check=False,
        )

    done = loop_given(hashlib.sha256(b"something else").hexdigest(), "n1")
    assert done.stdout == b"@@VW-END-n1 125\n"
    assert b"@@VW-INCOMPLETE: nothing was run" in done.stderr
    done = loop_given(hashlib.sha256(script.encode()).hexdigest(), "n2")
    assert done.stdout == b"ran\n@@VW-END-n2 0\n"
