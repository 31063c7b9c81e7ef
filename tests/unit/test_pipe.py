"""The session's pipe (wizard.remote.PIPE_LOOP): script after script on one channel, each
checked whole, run in its own subshell, its stdout, stderr and exit status kept apart from
the next one's. The loop runs here in a local `sh` behind a stand-in for paramiko's channel,
so what is tested is the real shell loop and the real client reading it."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator

import pytest

from wizard.endpoint import Credentials, Stats, Target
from wizard.remote import (
    COMMAND_ROUND_TRIPS,
    PIPE_LOOP,
    PIPE_ROUND_TRIPS,
    ConnectionLost,
    Remote,
    _drain_until,
    _Pipe,
)
from wizard.shell import code, sh

CONNECTION = "192.0.2.7 50000 192.0.2.1 22"


class LocalChannel:
    """What Remote uses of a paramiko channel, over a local process's pipes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.closed = False

    def recv(self, size: int) -> bytes:
        assert self.process.stdout is not None
        return os.read(self.process.stdout.fileno(), size)

    def recv_stderr(self, size: int) -> bytes:
        assert self.process.stderr is not None
        return os.read(self.process.stderr.fileno(), size)

    def sendall(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def settimeout(self, _timeout: float | None) -> None:
        pass

    def exit_status_ready(self) -> bool:
        return self.process.poll() is not None

    def recv_exit_status(self) -> int:
        return self.process.wait()

    def close(self) -> None:
        self.closed = True
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


@pytest.fixture
def piped() -> Iterator[tuple[Remote, LocalChannel]]:
    process = subprocess.Popen(
        ["sh", "-c", PIPE_LOOP, "vps-wizard", CONNECTION],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    channel = LocalChannel(process)
    remote = Remote(None, Target("pipe.test", "root"), "root", Credentials(), Stats(), "")  # type: ignore[arg-type]
    remote._idle_pipes = [_Pipe(channel)]  # type: ignore[arg-type]
    remote._open_channels = 1
    yield remote, channel
    remote.close = lambda: None  # type: ignore[method-assign]
    channel.close()


def test_scripts_in_a_row_each_get_their_own_output_and_status(piped) -> None:
    remote, channel = piped
    first = remote.run(code("echo one; echo warn >&2; exit 3"))
    second = remote.run(code("printf 'no newline at the end'"))
    third = remote.run(code('echo "$1"; cat; echo "[${leaked:-}]"'))
    assert (first.exit_code, first.stdout, first.stderr) == (3, "one\n", "warn\n")
    assert (second.exit_code, second.stdout, second.stderr) == (0, "no newline at the end", "")
    # $1 is the login's connection, stdin is empty (not the next script), and nothing an
    # earlier script set is left for a later one.
    assert third.stdout == f"{CONNECTION}\n[]\n"
    assert not channel.closed


def test_a_script_that_exits_or_sets_traps_does_not_end_the_pipe(piped) -> None:
    remote, _ = piped
    umask = remote.run(code("umask")).stdout.strip()
    assert umask != "0077"
    assert remote.run(code("trap 'echo bye' EXIT; leaked=1; umask 077; exit 0")).stdout == "bye\n"
    assert remote.run(code('echo "${leaked:-unset} $(umask)"')).stdout == f"unset {umask}\n"


def test_lines_reach_the_handler_as_the_script_prints_them(piped) -> None:
    remote, _ = piped
    lines: list[str] = []
    result = remote.run(code("echo a; echo; printf 'b\\nc'"), on_line=lines.append)
    assert lines == ["a", "", "b", "c"]
    assert result.stdout == "a\n\nb\nc"
    lines.clear()
    remote.run(code("echo only"), on_line=lines.append)
    assert lines == ["only"]


def test_large_output_on_both_streams(piped) -> None:
    remote, _ = piped
    result = remote.run(
        code("head -c 300000 /dev/zero | tr '\\0' o; head -c 300000 /dev/zero | tr '\\0' e >&2")
    )
    assert result.stdout == "o" * 300000 and result.stderr == "e" * 300000


def test_a_script_whose_digest_does_not_match_is_not_run(piped) -> None:
    remote, channel = piped
    data = b"touch /nonexistent/never; echo ran\n"
    wrong = hashlib.sha256(b"something else").hexdigest()
    channel.sendall(f"{len(data)} {wrong} n1\n".encode() + data)
    stdout, status, _ = _drain_until(channel, b"@@VW-END-n1", None)  # type: ignore[arg-type]
    assert (stdout, status) == (b"", 125)
    assert b"@@VW-INCOMPLETE" in channel.recv_stderr(4096)
    # The pipe goes on with the next script.
    assert remote.run(code("echo still here")).stdout == "still here\n"


def test_a_refused_script_is_said_as_not_run(piped) -> None:
    remote, _ = piped
    with pytest.raises(ConnectionLost, match="nothing of it was run"):
        remote.run(code("if then fi"))  # does not parse: refused whole by sh -n


def test_a_cut_script_ends_the_loop_with_nothing_run(piped) -> None:
    _, channel = piped
    data = b"echo should not run\n"
    channel.sendall(f"{len(data)} {hashlib.sha256(data).hexdigest()} n2\n".encode() + data[:5])
    assert channel.process.stdin is not None
    channel.process.stdin.close()
    stdout, status, _ = _drain_until(channel, b"@@VW-END-n2", None)  # type: ignore[arg-type]
    assert (stdout, status) == (b"", None)
    assert channel.recv_exit_status() == 125


def test_round_trips_counted_one_per_command_on_an_open_pipe(piped) -> None:
    remote, _ = piped
    for _ in range(3):
        remote.run(code("true"))
    bucket = remote.stats.bucket()
    assert (bucket.round_trips, bucket.channels, bucket.commands) == (3 * PIPE_ROUND_TRIPS, 0, 3)
    assert PIPE_ROUND_TRIPS < COMMAND_ROUND_TRIPS


def test_scripts_read_ahead_answer_later_without_running_again(piped, tmp_path) -> None:
    """read_ahead's scripts go behind the next command; a run of the same text later takes
    the answer kept, each with its own output and status, none run twice."""
    remote, _ = piped
    ran = str(tmp_path / "ran")
    first = sh("echo first >> {ran}; echo one; echo warn >&2; exit 3", ran=ran)
    second = sh("echo second >> {ran}; printf 'no newline'", ran=ran)
    remote.read_ahead([first, second])
    with remote.stats.phase("facts"):
        assert remote.run(code("echo facts; echo facts-err >&2")).stdout == "facts\n"
    assert remote.stats.bucket("facts").commands == 1
    with remote.stats.phase("review"):
        got = remote.run(first)
    # Counted where the answer was needed, without a round trip of its own.
    assert (remote.stats.bucket("review").commands, remote.stats.bucket("review").round_trips) == (
        1,
        0,
    )
    assert (got.exit_code, got.stdout, got.stderr) == (3, "one\n", "warn\n")
    got = remote.run(second)
    assert (got.exit_code, got.stdout, got.stderr) == (0, "no newline", "")
    assert (tmp_path / "ran").read_text() == "first\nsecond\n"
    # Taken once: the same script again runs on the server.
    assert remote.run(second).stdout == "no newline"
    assert (tmp_path / "ran").read_text() == "first\nsecond\nsecond\n"


def test_another_command_drops_what_was_read_ahead(piped, tmp_path) -> None:
    """A command in between may change what a script read: its kept answer is not used."""
    remote, _ = piped
    state = str(tmp_path / "state")
    read = sh("cat {state} 2>/dev/null || echo none", state=state)
    remote.read_ahead([read])
    remote.run(code("true"))
    remote.run(sh("echo changed > {state}", state=state))
    assert remote.run(read).stdout == "changed\n"


def test_output_read_ahead_may_come_in_one_chunk_with_the_first(piped) -> None:
    """The answers behind a command arrive in the same reads as its own: each is cut at its
    end mark, large outputs on both streams included."""
    remote, _ = piped
    big = code("head -c 200000 /dev/zero | tr '\\0' o; head -c 100000 /dev/zero | tr '\\0' e >&2")
    small = code("echo small; echo small-err >&2")
    remote.read_ahead([big, small, big])
    lines: list[str] = []
    assert remote.run(code("sleep 0.2; echo main"), on_line=lines.append).stdout == "main\n"
    assert lines == ["main"]
    got = remote.run(big)
    assert (got.stdout, got.stderr) == ("o" * 200000, "e" * 100000)
    got = remote.run(small)
    assert (got.stdout, got.stderr) == ("small\n", "small-err\n")
