"""A server's recorded answers, played back as a Connector: the engine's unit tests run on them.

A recording is a JSON file of what a real session sent (each script) and what the server
answered (stdout, stderr, exit code). `Recording` wraps a live Remote and writes one;
`RecordedRemote` plays one back. Playback finds each script's answer by its key: the script's
text with what differs from run to run (run ids, here-document tags, times) replaced by fixed
words, so a script the engine builds again the same way finds its answer, and a script it now
builds differently finds none and fails, naming itself, the nearest recorded script and how
the recordings are made again (scripts/record.py).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.connector import Connector
from wizard.endpoint import Stats, Target
from wizard.remote import Result
from wizard.shell import Shell

FORMAT = 1
REFRESH = (
    "Make the recordings again from booted test hosts (root, systemd-nspawn, about a minute): "
    "sudo PYTHONPATH=. .venv/bin/python scripts/record.py [SCENARIO ...]; then review "
    "`git diff tests/unit/recordings` and commit it with the change to the scripts."
)

# What differs between two runs of the same scripts, each with the fixed word it becomes.
_VOLATILE = (
    # wizard.journal.new_run_id: UTC time (to the millisecond since 2026-12-07) plus 6 hex
    # digits.
    (re.compile(r"\b\d{8}T\d{6}(\d{3})?Z-[0-9a-f]{6}\b"), "RUN-ID"),
    # wizard.shell.heredoc's tag, random so no content can end the here-document early.
    (re.compile(r"\bVW_DATA_[0-9A-F]{12}\b"), "VW_DATA_TAG"),
    # Epoch seconds in names (state.json.archived-<time>) and in the state pushed to the server.
    (re.compile(r"\b1[6-9]\d{8}(\.\d+)?\b"), "EPOCH"),
)
# A here-document's base64 payload is left out of the key, the command it feeds stays: the
# state pushed to the server holds the times of its steps. So a recording does not tell two
# contents of one file apart; the tests assert contents on the plan, before they are sent.
_HEREDOC = re.compile(r"(<<'VW_DATA_TAG'\n)(.*?)(\nVW_DATA_TAG)", re.DOTALL)


def script_key(script: str) -> str:
    """The script's text with what varies from run to run replaced by fixed words."""
    for pattern, word in _VOLATILE:
        script = pattern.sub(word, script)
    return _HEREDOC.sub(r"\1BASE64\3", script)


def _title(key: str) -> str:
    """A script's first meaningful line, to name it in a message."""
    lines = [line.strip() for line in key.splitlines() if line.strip()]
    return (lines[0] if lines else "(empty script)")[:100]


@dataclass(frozen=True)
class Exchange:
    """One script the engine sent and what the server answered."""

    key: str
    sudo: bool
    exit_code: int
    stdout: str
    stderr: str

    def to_json(self) -> dict[str, Any]:
        """The exchange as the recording file holds it."""
        return {
            "title": _title(self.key),
            "sudo": self.sudo,
            "exit_code": self.exit_code,
            "script": self.key,
            "stdout": self.stdout,
            "stderr": self.stderr,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Exchange:
        """An exchange read back from a recording file."""
        return cls(
            key=str(data["script"]),
            sudo=bool(data["sudo"]),
            exit_code=int(data["exit_code"]),
            stdout=str(data["stdout"]),
            stderr=str(data["stderr"]),
        )


class NotRecorded(AssertionError):
    """The engine sent a script the recording does not hold (the scripts changed since it
    was made, or the test drives the engine somewhere the recording never went)."""


@dataclass
class RecordedRemote:
    """Plays a recording back: each script gets the answer recorded for its key.

    A script sent several times gets the recorded answers in their order, then the last one
    again (the server answers the same question the same way). Every miss is raised and also
    kept in `misses`, so a test sees one even where the engine catches errors (checks do).
    """

    target: Target
    user: str
    host_fingerprint: str
    exchanges: Sequence[Exchange]
    source: str = "(recording)"
    stats: Stats = field(default_factory=Stats)
    sent: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    _served: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> RecordedRemote:
        """Play back the recording in `path`."""
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise NotRecorded(f"{path} is not a recording of format {FORMAT}. {REFRESH}")
        who = data["session"]
        return cls(
            target=Target(who["host"], who["user"], who["port"]),
            user=who["user"],
            host_fingerprint=who["host_fingerprint"],
            exchanges=tuple(Exchange.from_json(e) for e in data["exchanges"]),
            source=str(path),
        )

    def run(
        self,
        command: Shell,
        sudo: bool = True,
        timeout: float | None = 600,
        on_line: Callable[[str], None] | None = None,
    ) -> Result:
        """The recorded answer to this script (its stdout also given line by line)."""
        if not isinstance(command, Shell):
            raise TypeError("run takes Shell: build commands with wizard.shell.sh()")
        key = script_key(str(command))
        self.sent.append(key)
        answers = [e for e in self.exchanges if e.key == key and e.sudo == sudo]
        if not answers:
            message = self._miss(key, sudo)
            self.misses.append(message)
            raise NotRecorded(message)
        index = self._served.get(key, 0)
        self._served[key] = index + 1
        answer = answers[min(index, len(answers) - 1)]
        bucket = self.stats.bucket()
        bucket.round_trips += 1
        bucket.bytes_sent += len(command.encode())
        bucket.bytes_received += len(answer.stdout) + len(answer.stderr)
        if on_line:
            lines = answer.stdout.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            for line in lines:
                on_line(line)
        return Result(answer.exit_code, answer.stdout, answer.stderr)

    run_script = run

    def close(self) -> None:
        """Nothing to close: the recording stays loaded."""

    def _miss(self, key: str, sudo: bool) -> str:
        """What the test says when a script is not in the recording."""
        as_who = "" if sudo else " (without sudo)"
        nearest = difflib.get_close_matches(key, [e.key for e in self.exchanges], n=1, cutoff=0)
        where = ""
        if nearest:
            diff = difflib.unified_diff(
                nearest[0].splitlines(), key.splitlines(), "recorded", "sent now", lineterm="", n=1
            )
            shown = list(diff)[:30]
            where = "\nIt differs from the nearest recorded script:\n" + "\n".join(shown)
        return (
            f"{self.source} holds no answer to the script{as_who} starting "
            f"{_title(key)!r}: the engine's scripts changed since it was recorded, or the test "
            f"asks for something it never recorded.{where}\n{REFRESH}"
        )


class Recording:
    """A live session that keeps every script it runs and the server's answer, to save them
    as a recording."""

    def __init__(self, remote: Connector) -> None:
        self.remote = remote
        self.target = remote.target
        self.user = remote.user
        self.host_fingerprint = remote.host_fingerprint
        self.stats = remote.stats
        self.exchanges: list[Exchange] = []

    def run(
        self,
        command: Shell,
        sudo: bool = True,
        timeout: float | None = 600,
        on_line: Callable[[str], None] | None = None,
    ) -> Result:
        """Run on the server and keep the exchange."""
        result = self.remote.run(command, sudo=sudo, timeout=timeout, on_line=on_line)
        self.exchanges.append(
            Exchange(script_key(str(command)), sudo, result.exit_code, result.stdout, result.stderr)
        )
        return result

    run_script = run

    def close(self) -> None:
        """End the live session (what was recorded stays)."""
        self.remote.close()

    def save(self, path: Path, about: str) -> None:
        """Write the recording; `about` says what the server was and what was done on it."""
        data = {
            "format": FORMAT,
            "about": about,
            "refresh": REFRESH,
            "session": {
                "host": self.target.host,
                "port": self.target.port,
                "user": self.user,
                "host_fingerprint": self.host_fingerprint,
            },
            "exchanges": [e.to_json() for e in self.exchanges],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
