"""The session's pipes: commands started side by side (the checks) each take a pipe no command
holds, or open one more, and leave it open for the next command; never more channels than
the server allows; a command that needs a channel of its own still gets one when every slot
holds an idle pipe. The channels are local shells behind a stand-in for paramiko's
transport, so what runs is the real pipe loop and the real slot keeping."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator

import paramiko
import pytest

from tests.unit.test_pipe_public_script import ExecChannel
from wizard.endpoint import Credentials, Stats, Target
from wizard.remote import COMMAND_ROUND_TRIPS, PIPE_ROUND_TRIPS, Remote
from wizard.shell import code


class PoolChannel(ExecChannel):
    def shutdown_write(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def close(self) -> None:
        if not self.closed and hasattr(self, "process"):
            super().close()
        self.closed = True


class LocalTransport:
    """Opens local-shell channels, refusing more than `limit` open at once as sshd's
    MaxSessions does."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.opened: list[PoolChannel] = []
        self.most_open = 0
        self._lock = threading.Lock()

    def is_active(self) -> bool:
        return True

    def open_session(self, timeout: float | None = None) -> PoolChannel:
        with self._lock:
            live = sum(not channel.closed for channel in self.opened)
            if live >= self.limit:
                raise paramiko.ChannelException(1, "administratively prohibited")
            self.opened.append(PoolChannel())
            self.most_open = max(self.most_open, live + 1)
            return self.opened[-1]


class LocalClient:
    def __init__(self, limit: int) -> None:
        self.transport = LocalTransport(limit)

    def get_transport(self) -> LocalTransport:
        return self.transport

    def close(self) -> None:
        for channel in self.transport.opened:
            channel.close()


def session(user: str, limit: int = 10, max_channels: int = 8) -> Remote:
    remote = Remote(LocalClient(limit), Target("pool.test", user), user, Credentials(), Stats(), "")  # type: ignore[arg-type]
    remote.max_channels = max_channels
    return remote


@pytest.fixture
def as_root() -> Iterator[Remote]:
    remote = session("root")
    yield remote
    remote.close()


def side_by_side(remote: Remote, count: int, script: str, sudo: bool = True) -> list[str]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        futures = [
            pool.submit(remote.run, code(script.replace("N", str(n))), sudo) for n in range(count)
        ]
        return [future.result().stdout for future in futures]


def opened(remote: Remote) -> list[PoolChannel]:
    return remote._client.get_transport().opened  # type: ignore[union-attr,attr-defined,no-any-return]


def test_commands_side_by_side_open_pipes_that_later_commands_take(as_root: Remote) -> None:
    first = side_by_side(as_root, 4, "sleep 0.3; echo first N")
    second = side_by_side(as_root, 4, "sleep 0.3; echo second N")
    assert first == [f"first {n}\n" for n in range(4)]
    assert second == [f"second {n}\n" for n in range(4)]
    # Four pipes opened by the first wave, each taken again by the second: no new channel,
    # one round trip a command instead of three.
    assert len(opened(as_root)) == 4
    assert all(len(channel.lines) == 1 and not channel.closed for channel in opened(as_root))
    bucket = as_root.stats.bucket()
    assert bucket.channels == 4 and bucket.commands == 8
    assert bucket.round_trips == 4 * COMMAND_ROUND_TRIPS + 4 * PIPE_ROUND_TRIPS


def test_never_more_channels_than_allowed_and_every_command_answered(as_root: Remote) -> None:
    as_root.max_channels = 3
    outputs = side_by_side(as_root, 12, "sleep 0.1; echo N")
    assert outputs == [f"{n}\n" for n in range(12)]
    assert as_root._client.get_transport().most_open == 3  # type: ignore[union-attr]
    assert len(opened(as_root)) == 3


def test_a_server_allowing_fewer_sessions_lowers_the_limit_and_its_pipes_serve_all() -> None:
    remote = session("root", limit=2)
    try:
        outputs = side_by_side(remote, 6, "sleep 0.1; echo N")
    finally:
        remote.close()
    assert outputs == [f"{n}\n" for n in range(6)]
    assert remote.max_channels <= 2
    # The two pipes the server allowed served every command: a command refused a channel
    # waits for one of them, it never closes one to open another.
    assert sum(bool(channel.lines) for channel in opened(remote)) == 2


@pytest.mark.usefixtures("stand_in_sudo")
def test_a_login_user_command_gets_a_channel_when_idle_pipes_hold_every_slot() -> None:
    remote = session("admin", max_channels=2)
    try:
        side_by_side(remote, 2, "sleep 0.2; echo N")
        assert len(remote._idle_pipes) == 2
        started = time.monotonic()
        mine = remote.run(code("id -un; echo as login"), sudo=False)
        took = time.monotonic() - started
        # As root again: the pipe left takes it.
        again = remote.run(code("echo as root"))
        channels = opened(remote)
        closed = [channel.closed for channel in channels]
    finally:
        remote.close()
    assert mine.stdout.endswith("as login\n") and again.stdout == "as root\n"
    assert took < 2
    assert len(channels) == 3
    assert channels[2].lines[0].startswith("sh -c")  # not through sudo
    # One idle pipe closed for it, the other kept; its own channel closed after it.
    assert closed.count(True) == 2 and closed[2]


def test_a_dropped_pipe_is_left_and_the_next_command_opens_another(as_root: Remote) -> None:
    assert as_root.run(code("echo one")).stdout == "one\n"
    opened(as_root)[0].close()  # as a dropped channel would be
    assert as_root.run(code("echo two")).stdout == "two\n"
    assert len(opened(as_root)) == 2
    assert as_root._idle_pipes[0].channel is opened(as_root)[1]


def test_a_pipe_whose_loop_ended_is_not_given_back(as_root: Remote) -> None:
    first = as_root.run(code("echo before"))
    # A script that kills the loop it runs in (as a dropped sudo would end it).
    ended = as_root.run(code("kill -9 $$"))
    after = as_root.run(code("echo after"))
    assert first.stdout == "before\n" and after.stdout == "after\n"
    assert ended.exit_code != 0
    assert len(opened(as_root)) == 2 and opened(as_root)[0].closed


def test_closing_the_session_closes_its_idle_pipes(as_root: Remote) -> None:
    side_by_side(as_root, 3, "sleep 0.2; echo N")
    as_root.close()
    assert len(opened(as_root)) == 3 and all(channel.closed for channel in opened(as_root))
    assert as_root._idle_pipes == []
