"""Local record of each host's progress: step status, answers (never secrets), file hashes, runs.

SQLite under the user's state directory. A JSON copy lives on the server so that another
machine can resume; the newer record of a step wins.

A host is keyed by what it is, its SSH host key (SHA256 fingerprint), not by where it is:
two servers behind one address on two ports keep two records, and a server that moved to a
new address keeps its own. The address and port are how it was last reached. Records of
earlier versions, keyed by address, are taken over by the first server that answers there.
A record is never deleted: starting over archives it.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs

from wizard.errors import WizardError
from wizard.visible import is_plain, visible


def default_state_path() -> Path:
    """The state database in the user's state directory."""
    return platformdirs.user_state_path("vps-wizard") / "state.db"


class StepState(StrEnum):
    """Where a host is with a step: a step record's status."""

    PENDING = "pending"
    APPLIED = "applied"
    VERIFIED = "verified"
    FAILED = "failed"
    # Applied, and a check failed since.
    FAILED_VERIFY = "failed-verify"
    # A file the step wrote was changed on the server by someone else.
    DRIFTED = "drifted"
    # Another step changed what this one must write (the firewall after a new port).
    OUTDATED = "outdated"
    # This machine's record claims it, the server does not back it (reinstalled, reset).
    UNCONFIRMED = "unconfirmed"


# The statuses of a step whose changes are on the server.
APPLIED = frozenset(
    {
        StepState.APPLIED,
        StepState.VERIFIED,
        StepState.DRIFTED,
        StepState.FAILED_VERIFY,
        StepState.OUTDATED,
    }
)
# What a record may claim that the server must back: the applied statuses, and the steps
# already found unconfirmed (still not backed until verified or applied again).
CLAIMS = APPLIED | {StepState.UNCONFIRMED}


@dataclass(frozen=True)
class StepRecord:
    """What the wizard knows of one step on one host."""

    step_id: str
    status: StepState = StepState.PENDING
    answers: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    updated: float = 0.0
    message: str = ""
    # When the checks that found the step verified ran (0: never). "verified" without it
    # is not shown as verified.
    checked: float = 0.0

    def __post_init__(self) -> None:
        # Read back from the database, JSON or a test as text: a status it does not know is
        # refused here (ValueError), never carried along.
        object.__setattr__(self, "status", StepState(self.status))


@dataclass(frozen=True)
class HostRecord:
    """A host as the wizard knows it: its identity (key), how to reach it, and its steps."""

    key: str
    address: str
    port: int
    login_user: str = ""
    admin_user: str = ""
    steps: Mapping[str, StepRecord] = field(default_factory=dict)
    # When the wizard last connected to it (0: never), and when the record was archived.
    seen: float = 0.0
    archived: float = 0.0

    def step(self, step_id: str) -> StepRecord:
        """The record of a step (pending when never touched)."""
        return self.steps.get(step_id, StepRecord(step_id))

    def to_json(self) -> dict[str, Any]:
        """The copy written to the server."""
        return {
            "version": 1,
            "admin_user": self.admin_user,
            "steps": {k: asdict(v) for k, v in self.steps.items()},
        }


def host_key(fingerprint: str) -> str:
    """How hosts are keyed: the server's identity, its host key's SHA256 fingerprint."""
    return fingerprint


def is_identity_key(key: str) -> bool:
    """Whether a record's key is a host key (else a record of an earlier version, by address)."""
    return key.startswith("SHA256:")


STEP_STATUSES = frozenset(StepState)
"""Every status a step record may have."""

# Bounds of the server's copy: a few times what fifteen steps ever write, far below what
# would slow the wizard down or fill a screen.
SERVER_COPY_BYTES = 1024 * 1024
MAX_STEPS = 100
MAX_ANSWERS = 100
MAX_LIST_ITEMS = 256
MAX_FILES = 1000
MAX_TEXT = 4096
MAX_MESSAGE = 64 * 1024  # a failure quotes the server's output
MAX_NUMBER = 2**63

_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_ANSWER_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_STEP_KEYS = frozenset({"step_id", "status", "answers", "files", "updated", "message", "checked"})
_COPY_KEYS = frozenset({"version", "admin_user", "steps"})


class ServerCopyRefused(WizardError):
    """The server's copy of the state does not fit its schema: none of it is merged."""


@dataclass(frozen=True)
class ServerCopy:
    """The server's copy of the state, checked against its schema."""

    admin_user: str = ""
    steps: Mapping[str, StepRecord] = field(default_factory=dict)


class _Misfit(Exception):
    """Where the copy departs from the schema, and how."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")


def read_server_copy(copy: str | Mapping[str, Any]) -> ServerCopy:
    """The server's copy (its JSON text, or that text parsed), checked whole.

    Whoever is root on the server can write this file, and it resumes steps, fills answers
    and names the admin user to log in as: it is refused whole, with the reason, when any
    part of it does not fit, rather than merged in part. No copy (an empty text or object)
    is an empty copy. Identifiers and answers must hold no control character (the wizard
    never writes one); a step's message may, as it quotes the server's own output, and every
    place that shows it makes them visible.
    """
    try:
        data = _parse(copy) if isinstance(copy, str) else copy
        if data == {}:
            return ServerCopy()
        return _copy(data)
    except _Misfit as misfit:
        raise ServerCopyRefused(
            f"the server's copy of the wizard's state was not used: {misfit}",
            "This machine's own record of the host is used instead, and the next apply or "
            "verify replaces the copy. It was edited on the server, or written by a wizard "
            "that let the sudo password into it: look at /var/lib/vps-wizard/state.json "
            "before, and change that password if the file holds it.",
        ) from None


def merge_server_copy(record: HostRecord, server: str | Mapping[str, Any]) -> HostRecord:
    """Merge the server's copy into the local record: per step, the newer wins.

    ServerCopyRefused (nothing merged) when the copy does not fit its schema.
    """
    copy = read_server_copy(server)
    steps = dict(record.steps)
    for step_id, theirs in copy.steps.items():
        if theirs.updated > record.step(step_id).updated:
            steps[step_id] = theirs
    admin = record.admin_user or copy.admin_user
    return replace(record, admin_user=admin, steps=steps)


def _parse(text: str) -> Any:
    if len(text.encode(errors="replace")) > SERVER_COPY_BYTES:
        raise _Misfit("state.json", f"larger than {SERVER_COPY_BYTES} bytes")
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _Misfit("state.json", f"not JSON ({error.msg} at line {error.lineno})") from None
    except (ValueError, RecursionError):
        # A number of thousands of digits, arrays nested thousands deep.
        raise _Misfit("state.json", "not JSON the wizard writes") from None


def _copy(data: Any) -> ServerCopy:
    _object(data, "state.json", _COPY_KEYS)
    if data.get("version") != 1 or isinstance(data.get("version"), bool):
        raise _Misfit("version", "not 1 (written by another version of vps-wizard?)")
    admin = data.get("admin_user", "")
    if admin != "":
        _name(admin, "admin_user", _USER_NAME, "a user name")
    steps = data.get("steps", {})
    _object(steps, "steps", limit=MAX_STEPS)
    return ServerCopy(admin, {step_id: _step(step_id, raw) for step_id, raw in steps.items()})


def _step(step_id: Any, data: Any) -> StepRecord:
    _name(step_id, f"steps.{visible(str(step_id))[:64]}", _STEP_ID, "a step id")
    where = f"steps.{step_id}"
    _object(data, where, _STEP_KEYS)
    if data.get("step_id", step_id) != step_id:
        raise _Misfit(f"{where}.step_id", "not the step it is filed under")
    status = data.get("status")
    if status not in STEP_STATUSES:
        shown = visible(str(status))[:40] if isinstance(status, str) else type(status).__name__
        raise _Misfit(f"{where}.status", f"'{shown}' is not a step status")
    updated = data.get("updated")
    if isinstance(updated, bool) or not isinstance(updated, int | float):
        raise _Misfit(f"{where}.updated", "not a number")
    if not math.isfinite(updated) or updated < 0:
        raise _Misfit(f"{where}.updated", "not a time")
    message = data.get("message", "")
    _text(message, f"{where}.message", plain=False, limit=MAX_MESSAGE)
    checked = data.get("checked", 0.0)
    if isinstance(checked, bool) or not isinstance(checked, int | float):
        raise _Misfit(f"{where}.checked", "not a number")
    if not math.isfinite(checked) or checked < 0:
        raise _Misfit(f"{where}.checked", "not a time")
    return StepRecord(
        step_id=step_id,
        status=status,
        answers=_answers(data.get("answers", {}), f"{where}.answers"),
        files=_files(data.get("files", {}), f"{where}.files"),
        updated=float(updated),
        message=message,
        checked=float(checked),
    )


def _answers(data: Any, where: str) -> dict[str, Any]:
    _object(data, where, limit=MAX_ANSWERS)
    for name, value in data.items():
        _name(name, where, _ANSWER_NAME, "an answer name")
        at = f"{where}.{name}"
        if isinstance(value, list):
            # A list answer holds values; a table answer rows, each an object of values.
            if len(value) > MAX_LIST_ITEMS:
                raise _Misfit(at, f"more than {MAX_LIST_ITEMS} items")
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _object(item, f"{at}[{index}]", limit=MAX_ANSWERS)
                    for column, cell in item.items():
                        _name(column, f"{at}[{index}]", _ANSWER_NAME, "a column name")
                        _answer_value(cell, f"{at}[{index}].{column}")
                else:
                    _answer_value(item, f"{at}[{index}]")
        else:
            _answer_value(value, at)
    return dict(data)


def _answer_value(value: Any, at: str) -> None:
    """One value of an answer: a text, a number or yes/no."""
    if not isinstance(value, str | int | bool):
        raise _Misfit(at, "not a text, number, yes/no, or a list or table of those")
    if isinstance(value, str):
        _text(value, at)
    elif not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise _Misfit(at, "a number out of range")


def _files(data: Any, where: str) -> dict[str, str]:
    _object(data, where, limit=MAX_FILES)
    for path, digest in data.items():
        _text(path, where)
        if not path.startswith("/"):
            raise _Misfit(where, f"'{visible(path)[:60]}' is not an absolute path")
        _text(digest, f"{where}[{path}]")
    return dict(data)


def _object(data: Any, where: str, keys: frozenset[str] | None = None, limit: int = 0) -> None:
    if not isinstance(data, dict):
        raise _Misfit(where, "not an object")
    if keys is not None:
        unknown = sorted(visible(str(key))[:40] for key in set(data) - keys)
        if unknown:
            raise _Misfit(where, f"unknown field(s) {', '.join(unknown)}")
    if limit and len(data) > limit:
        raise _Misfit(where, f"more than {limit} entries")


def _text(value: Any, where: str, plain: bool = True, limit: int = MAX_TEXT) -> None:
    if not isinstance(value, str):
        raise _Misfit(where, "not a text")
    if len(value) > limit:
        raise _Misfit(where, f"longer than {limit} characters")
    if plain and not is_plain(value):
        raise _Misfit(where, f"'{visible(value)[:60]}' holds control characters")


def _name(value: Any, where: str, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        shown = visible(value)[:40] if isinstance(value, str) else type(value).__name__
        raise _Misfit(where, f"'{shown}' is not {what}")


class StateStore:
    """The SQLite store: one connection, shared by the TUI's worker threads under a lock."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_state_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS hosts (
                key TEXT PRIMARY KEY, address TEXT, port INTEGER,
                login_user TEXT, admin_user TEXT);
            CREATE TABLE IF NOT EXISTS steps (
                host TEXT, step_id TEXT, status TEXT, answers TEXT, files TEXT,
                updated REAL, message TEXT, PRIMARY KEY (host, step_id));
            CREATE TABLE IF NOT EXISTS runs (
                host TEXT, run_id TEXT, step_id TEXT, status TEXT, message TEXT, ended REAL);
            CREATE TABLE IF NOT EXISTS facts (
                host TEXT PRIMARY KEY, script TEXT, output TEXT);
            """
        )
        self._add_columns()
        self.path.chmod(0o600)

    def _add_columns(self) -> None:
        """Columns added since the first version; a database of that version gains them."""
        added = {"hosts": ("seen", "archived"), "steps": ("checked",), "facts": ("read_at",)}
        with self._lock, self._db:
            for table, columns in added.items():
                present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column not in present:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} REAL DEFAULT 0")

    def load(self, address: str, port: int = 22) -> HostRecord:
        """The record last reached at address:port (empty when none, keyed by the address
        until the server's identity is known: see `identify`)."""
        with self._lock:
            found = self.reached_at(address, port)
            return found or HostRecord(address, address, port)

    def reached_at(self, address: str, port: int | None = None) -> HostRecord | None:
        """The live record of the server last reached at address:port, or None.

        Without a port: the one on port 22, else the only one at the address (two servers
        behind one address on two ports are told apart by the port the user gives).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT key, port FROM hosts WHERE address = ? AND archived = 0 ORDER BY seen DESC",
                (address,),
            ).fetchall()
        if port is not None:
            rows = [row for row in rows if row[1] == port]
        elif len({row[1] for row in rows}) > 1:
            rows = [row for row in rows if row[1] == 22]
        return self._load(rows[0][0]) if rows else None

    def identify(
        self, fingerprint: str, address: str, port: int
    ) -> tuple[HostRecord, HostRecord | None]:
        """The record of the server with this host key, now reached at address:port, and
        the record of another server last reached there, if any (its key changed).

        A record of an earlier version (keyed by this address) becomes this server's. A new
        server gets an empty record; one that moved keeps its record under its new address.
        """
        key = host_key(fingerprint)
        with self._lock, self._db:
            known = self._load(key)
            if known is not None:
                return replace(known, address=address, port=port), None
            legacy = self._load(address)
            if legacy is not None and not is_identity_key(legacy.key) and legacy.port == port:
                self._rekey(address, key)
                return replace(legacy, key=key), None
            other = self.reached_at(address, port)
            fresh = HostRecord(key, address, port)
            return fresh, other if other is not None and other.key != key else None

    def archive(self, key: str) -> str:
        """Archive a record (never deleted): its steps and runs kept under a new key, no
        longer found by address or identity. Returns that key ("" when none was stored)."""
        now = time.time()
        archived_key = f"archived:{now:.6f}:{key}"
        with self._lock, self._db:
            if self._load(key) is None:
                return ""
            self._rekey(key, archived_key, archived=now)
        return archived_key

    def archived(self, address: str | None = None) -> list[HostRecord]:
        """Archived records (of one address when given), the most recent first."""
        with self._lock:
            keys = [
                row[0]
                for row in self._db.execute(
                    "SELECT key, address FROM hosts WHERE archived > 0 ORDER BY archived DESC"
                )
                if address is None or row[1] == address
            ]
            return [record for key in keys if (record := self._load(key)) is not None]

    def _rekey(self, old: str, new: str, archived: float = 0.0) -> None:
        self._db.execute(
            "UPDATE hosts SET key = ?, archived = ? WHERE key = ?", (new, archived, old)
        )
        self._db.execute("UPDATE steps SET host = ? WHERE host = ?", (new, old))
        self._db.execute("UPDATE runs SET host = ? WHERE host = ?", (new, old))

    def _load(self, key: str) -> HostRecord | None:
        row = self._db.execute(
            "SELECT address, port, login_user, admin_user, seen, archived FROM hosts WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        steps = {
            r[0]: StepRecord(
                r[0], r[1], json.loads(r[2]), json.loads(r[3]), r[4], r[5] or "", r[6] or 0.0
            )
            for r in self._db.execute(
                "SELECT step_id, status, answers, files, updated, message, checked FROM steps "
                "WHERE host = ?",
                (key,),
            )
        }
        address, port, login, admin, seen, archived = row
        return HostRecord(
            key, address, port, login or "", admin or "", steps, seen or 0.0, archived or 0.0
        )

    def save_host(self, record: HostRecord) -> None:
        """Store how to reach the host, and every step record."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO hosts "
                "(key, address, port, login_user, admin_user, seen, archived) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.address,
                    record.port,
                    record.login_user,
                    record.admin_user,
                    record.seen,
                    record.archived,
                ),
            )
            for step in record.steps.values():
                self._put_step(record.key, step)

    def _put_step(self, key: str, step: StepRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO steps "
            "(host, step_id, status, answers, files, updated, message, checked) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                step.step_id,
                step.status,
                json.dumps(dict(step.answers)),
                json.dumps(dict(step.files)),
                step.updated,
                step.message,
                step.checked,
            ),
        )

    def save_facts(self, key: str, script: str, output: str) -> None:
        """Keep what the facts script (named by its digest) printed on the server with this
        host key, the last time: the next connect guesses its first plan from it."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO facts (host, script, output, read_at) VALUES (?, ?, ?, ?)",
                (key, script, output, time.time()),
            )

    def changed_since_facts(self, key: str) -> bool:
        """Whether a run this machine recorded on the host ended after the kept facts were
        read: the server changed since (an apply, a recovery), they may no longer hold."""
        with self._lock:
            row = self._db.execute(
                "SELECT (SELECT MAX(ended) FROM runs WHERE host = ?)"
                " > (SELECT read_at FROM facts WHERE host = ?)",
                (key, key),
            ).fetchone()
        return bool(row and row[0])

    def last_facts(self, key: str, script: str) -> str:
        """What save_facts kept for this host key and this very facts script ("" when none:
        another version of the wizard prints them otherwise)."""
        with self._lock:
            row = self._db.execute(
                "SELECT output FROM facts WHERE host = ? AND script = ?", (key, script)
            ).fetchone()
        return row[0] if row else ""

    def record_run(self, key: str, run_id: str, step_id: str, status: str, message: str) -> None:
        """Add one run to the history."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (key, run_id, step_id, status, message, time.time()),
            )

    def runs(self, key: str) -> list[tuple[str, str, str, str]]:
        """The host's run history, oldest first: run id, step, status, message."""
        with self._lock:
            return list(
                self._db.execute(
                    "SELECT run_id, step_id, status, message FROM runs WHERE host = ? "
                    "ORDER BY ended",
                    (key,),
                )
            )

    def close(self) -> None:
        """Close the database."""
        self._db.close()
