"""Local record of each host's progress: step status, answers (never secrets), file hashes, runs.

SQLite under the user's state directory. A JSON copy lives on the server so that another
machine can resume; the newer record of a step wins.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs


def default_state_path() -> Path:
    """The state database in the user's state directory."""
    return platformdirs.user_state_path("vps-wizard") / "state.db"


@dataclass(frozen=True)
class StepRecord:
    """What the wizard knows of one step on one host."""

    step_id: str
    status: str = "pending"
    answers: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    updated: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class HostRecord:
    """A host as the wizard knows it: how to reach it, and its steps."""

    key: str
    address: str
    port: int
    login_user: str = ""
    admin_user: str = ""
    steps: Mapping[str, StepRecord] = field(default_factory=dict)

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


def host_key(address: str) -> str:
    """How hosts are keyed: the resolved address. The SSH port may change (ssh-hardening)."""
    return address


def merge_server_copy(record: HostRecord, server: Mapping[str, Any]) -> HostRecord:
    """Merge the server's copy into the local record: per step, the newer wins."""
    steps = dict(record.steps)
    for step_id, data in (server.get("steps") or {}).items():
        if not isinstance(data, dict):
            continue
        try:
            theirs = StepRecord(
                step_id=step_id,
                status=str(data.get("status", "pending")),
                answers=dict(data.get("answers", {})),
                files=dict(data.get("files", {})),
                updated=float(data.get("updated", 0)),
                message=str(data.get("message", "")),
            )
        except (TypeError, ValueError):
            continue
        if theirs.updated > record.step(step_id).updated:
            steps[step_id] = theirs
    admin = record.admin_user or str(server.get("admin_user") or "")
    return HostRecord(record.key, record.address, record.port, record.login_user, admin, steps)


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
            """
        )
        self.path.chmod(0o600)

    def load(self, address: str, port: int = 22) -> HostRecord:
        """The host's record (empty when new, with the given port)."""
        key = host_key(address)
        with self._lock:
            return self._load(key, address, port)

    def _load(self, key: str, address: str, port: int) -> HostRecord:
        row = self._db.execute(
            "SELECT login_user, admin_user, port FROM hosts WHERE key = ?", (key,)
        ).fetchone()
        steps = {
            r[0]: StepRecord(r[0], r[1], json.loads(r[2]), json.loads(r[3]), r[4], r[5] or "")
            for r in self._db.execute(
                "SELECT step_id, status, answers, files, updated, message FROM steps "
                "WHERE host = ?",
                (key,),
            )
        }
        login, admin, port = row if row else ("", "", port)
        return HostRecord(key, address, port, login or "", admin or "", steps)

    def save_host(self, record: HostRecord) -> None:
        """Store how to reach the host, and every step record."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO hosts VALUES (?, ?, ?, ?, ?)",
                (record.key, record.address, record.port, record.login_user, record.admin_user),
            )
            for step in record.steps.values():
                self._put_step(record.key, step)

    def _put_step(self, key: str, step: StepRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                step.step_id,
                step.status,
                json.dumps(dict(step.answers)),
                json.dumps(dict(step.files)),
                step.updated,
                step.message,
            ),
        )

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
