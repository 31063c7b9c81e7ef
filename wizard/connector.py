"""The one interface through which the engine talks to a server.

wizard.remote.Remote (paramiko, a live SSH session) satisfies it by its shape; so does
wizard.recorded.RecordedRemote (a server's recorded answers, for fast unit tests). The engine's
modules take a Connector wherever they only run scripts on the session they were given; only
the code that opens new sessions (the guard's confirmation, the checks that log in afresh)
needs the paramiko class itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from wizard.endpoint import Stats, Target
from wizard.remote import Result
from wizard.shell import Shell

__all__ = ["Connector", "Result"]


class Connector(Protocol):
    """A session on one server: run scripts (one round trip each), say who and where it is."""

    # Where the session went (the port it came in on included) and who it logged in as.
    target: Target
    user: str
    # The SHA256 fingerprint of the host key the session was opened against.
    host_fingerprint: str
    # Round trips, bytes and seconds per phase, for --stats.
    stats: Stats

    def run(
        self,
        command: Shell,
        sudo: bool = True,
        timeout: float | None = 600,
        on_line: Callable[[str], None] | None = None,
    ) -> Result:
        """Run a script (as root through sudo unless `sudo` is False); `on_line` gets its
        stdout line by line while it runs."""
        ...

    def run_script(
        self,
        command: Shell,
        sudo: bool = True,
        timeout: float | None = 600,
        on_line: Callable[[str], None] | None = None,
    ) -> Result:
        """The same as `run` (the name the engine uses for long scripts)."""
        ...

    def close(self) -> None:
        """End the session."""
        ...
