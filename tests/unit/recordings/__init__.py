"""Recorded server answers for the engine's unit tests, and how a test plays them back.

Each NAME.json was made by scripts/record.py on a booted test host (its `about` says what the
server was and what was done). `session(NAME)` is a Session whose connector plays NAME back,
built as Session.open builds one, without a network: the tests drive it as the CLI would.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from wizard.catalog import load_catalog
from wizard.connector import Connector
from wizard.endpoint import Credentials
from wizard.facts import Facts, parse_facts
from wizard.recorded import RecordedRemote
from wizard.session import ConnectOptions, Session
from wizard.state import StateStore

HERE = Path(__file__).parent
REPO = HERE.parents[2]


def playback(name: str) -> RecordedRemote:
    """The connector playing tests/unit/recordings/NAME.json back."""
    return RecordedRemote.load(HERE / f"{name}.json")


def addresses(name: str) -> tuple[str, str]:
    """The recorded server's address and the address the wizard came from (the test host's
    link: the server .2 of its /30, the recording machine .1), whichever slot it was."""
    server = playback(name).target.host
    return server, server.rsplit(".", 1)[0] + ".1"


def recorded_facts(name: str) -> Facts:
    """The facts in NAME's recording, for what differs from one recording to the next (the
    run ids, the times in the server's copy): tests read those here, never write them down."""
    remote = playback(name)
    facts = next(e for e in remote.exchanges if "echo @@OS-RELEASE" in e.key)
    return parse_facts(facts.stdout)


def answers(step_id: str) -> dict[str, Any]:
    """The answers scripts/record.py planned the step with: the day-one example's, base
    without the full upgrade."""
    day_one = tomllib.loads((REPO / "examples" / "day-one.toml").read_text())
    raw = dict(day_one[step_id])
    if step_id == "base":
        raw["upgrade"] = False
    return raw


def session(
    name: str, home: Path, store: StateStore | None = None, remote: Connector | None = None
) -> Session:
    """A Session on the recorded server, connected and refreshed (facts, the server's copy of
    the state, recovery), its state database in `home` unless `store` is given; `remote`
    plays back a recording the test changed (or records) instead of NAME's."""
    remote = remote or playback(name)
    home.mkdir(parents=True, exist_ok=True)
    store = store or StateStore(home / "state.db")
    options = ConnectOptions(
        remote.target, Credentials(str(home / "id_ed25519")), home / "known_hosts"
    )
    host, _ = store.identify(remote.host_fingerprint, remote.target.host, 22)
    opened = Session(load_catalog(), store, options, remote, parse_facts(""), host)
    opened.refresh()
    return opened
