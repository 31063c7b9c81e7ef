"""The unit tests' recordings (tests/unit/recordings) still match what the engine sends today.

Recorded again from a booted test host, at another time, with other run ids and here-document
tags, every script must have the key the committed recording gives it: the playback's
normalisation finds everything that varies from run to run, and no engine script changed since
the recordings were made. When this fails, make them again (the message says how).

Needs root: scripts/record.py boots real machines with systemd-nspawn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.recorded import REFRESH

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "tests" / "unit" / "recordings"


def scripts_of(path: Path) -> list[tuple[bool, str]]:
    return [(e["sudo"], e["script"]) for e in json.loads(path.read_text())["exchanges"]]


# The scenario with the most that varies: run ids, the state pushed with its times, two
# laptops, a run undone.
def test_recording_again_gives_every_script_the_key_it_has_in_the_recordings(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("recording boots a test host (needs root)")
    made = subprocess.run(
        [sys.executable, "scripts/record.py", "debian12-unfinished", "--into", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    for name in ("debian12-run-waiting", "debian12-interrupted"):
        again, committed = (
            scripts_of(tmp_path / f"{name}.json"),
            scripts_of(RECORDINGS / f"{name}.json"),
        )
        assert again == committed, f"{name}.json no longer matches what the engine sends. {REFRESH}"
