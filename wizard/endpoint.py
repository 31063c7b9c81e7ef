"""Where to connect, how to log in, and what the link cost: plain values shared by the engine
and the front ends. Nothing here talks SSH, so a screen can build a Target or show Stats without
importing the connector (wizard.remote)."""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wizard.errors import WizardError


@dataclass(frozen=True)
class Target:
    """Where to connect: user, host name (as the user wrote it) and port."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse `user@host`, `host:port`, `user@[v6addr]:port`."""
        user, _, hostport = text.rpartition("@")
        host, port = hostport, None
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:]) if rest[1:].isdigit() else 0
        elif hostport.count(":") == 1:
            host, port_text = hostport.split(":")
            port = int(port_text) if port_text.isdigit() else 0
        if port is not None and not 1 <= port <= 65535:
            raise WizardError(f"'{text}' has no valid port", "write it as user@host:2222")
        bad = sorted({c for c in host if c in " \n;'\"`$"})
        if not host or bad:
            reason = (
                "it names no host"
                if not host
                else "a host name cannot hold " + " ".join(repr(c) for c in bad)
            )
            raise WizardError(
                f"'{text}' is not a server address: {reason}", "write it as user@host[:port]"
            )
        return cls(host=host, user=user or None, port=port)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port and self.port != 22 else ""
        return f"{user}{self.host}{port}"


@dataclass
class PhaseStats:
    """Round trips, channels, commands, bytes and seconds spent in one phase.

    `round_trips` is what the link sees, each one a wait of one latency: the SSH handshake's
    (wizard.remote.CONNECT_ROUND_TRIPS), for a command on a channel of its own (or the one
    that opens the session's pipe) its channel's open, the exec request's reply and the
    script's answer (wizard.remote.COMMAND_ROUND_TRIPS), for a command on the open pipe its
    answer only (wizard.remote.PIPE_ROUND_TRIPS). `channels` counts the channels opened.
    """

    round_trips: int = 0
    channels: int = 0
    commands: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0


@dataclass
class Stats:
    """Counters per phase (connect, facts, review, apply, verify, ...).

    Two phases may run at once in two threads (a verify's checks begin while the facts are
    read): each thread counts in the phase it entered, and the threads a check pool starts
    with its context (contextvars.copy_context) count in their starter's. `current` is the
    phase entered last anywhere, what a progress display shows, and what a thread that
    entered none counts in.
    """

    phases: dict[str, PhaseStats] = field(default_factory=dict)
    current: str = "other"
    _entered: contextvars.ContextVar[str | None] = field(
        default_factory=lambda: contextvars.ContextVar("vps-wizard-phase", default=None),
        repr=False,
        compare=False,
    )

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count everything done inside the block under `name`."""
        previous, self.current = self.current, name
        token = self._entered.set(name)
        started = time.monotonic()
        try:
            yield
        finally:
            self.bucket(name).seconds += time.monotonic() - started
            self._entered.reset(token)
            if self.current == name:
                self.current = previous

    def bucket(self, name: str | None = None) -> PhaseStats:
        """The counters of a phase (this thread's by default)."""
        return self.phases.setdefault(name or self._entered.get() or self.current, PhaseStats())

    def total_round_trips(self) -> int:
        """All round trips so far."""
        return sum(p.round_trips for p in self.phases.values())

    def total_channels(self) -> int:
        """All channels opened so far (the pipe's, and one per command that found it busy)."""
        return sum(p.channels for p in self.phases.values())

    def as_dict(self) -> dict[str, dict[str, float]]:
        """A plain dict, for --json and for printing."""
        return {name: vars(p).copy() for name, p in self.phases.items()}


@dataclass(frozen=True)
class Credentials:
    """How to log in. Passwords live in memory only, never in state or logs."""

    key_filename: str | None = None
    password: str | None = None
    sudo_password: str | None = None
    use_agent: bool = True


# Where the server's host key is checked and kept, as OpenSSH's own client does.
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()
# The user's ssh config (host names, ports, users, keys, ProxyJump), expanded where it is read.
SSH_CONFIG = Path("~/.ssh/config")
# How long a guarded change (sshd, the firewall) waits for a new session's confirmation
# before the server puts the old configuration back by itself.
DEFAULT_GUARD_SECONDS = 120


@dataclass(frozen=True)
class ConnectOptions:
    """How to reach the server and how careful to be."""

    target: Target
    credentials: Credentials = field(default_factory=Credentials)
    known_hosts: Path = DEFAULT_KNOWN_HOSTS
    accept_fingerprint: str | None = None
    guard_seconds: int = DEFAULT_GUARD_SECONDS
    # Said to the user with the session's own notices from the start (the demo's: nothing kept).
    notices: tuple[str, ...] = ()
