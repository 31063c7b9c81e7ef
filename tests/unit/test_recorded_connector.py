"""The recorded connector: what a recording matches, and what a test says when it misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.recordings import answers, playback, recorded_facts, session
from wizard.facts import facts_script
from wizard.recorded import NotRecorded, RecordedRemote, Recording, script_key
from wizard.resume import recovery_script
from wizard.shell import heredoc, sh


def test_a_script_that_differs_only_in_run_id_or_here_document_tag_finds_its_answer() -> None:
    assert script_key(recovery_script(["20261207T001230Z-41ae84"])) == script_key(
        recovery_script(["20250101T101010Z-abcdef"])
    )
    write = sh("base64 -d > {f}", f="/tmp/x")
    assert script_key(heredoc(write, b"a")) == script_key(heredoc(write, b"a"))
    # What the script does is kept: another file is another script.
    other = sh("base64 -d > {f}", f="/tmp/y")
    assert script_key(heredoc(write, b"a")) != script_key(heredoc(other, b"a"))
    assert script_key(sh("echo {x}", x="1")) != script_key(sh("echo {x}", x="2"))


def test_a_script_not_recorded_fails_naming_it_the_nearest_and_how_to_record_again() -> None:
    remote = playback("debian12-fresh")
    with pytest.raises(NotRecorded) as missed:
        remote.run(facts_script(["postfix"]))  # the facts script, asking for other packages
    message = str(missed.value)
    assert "debian12-fresh.json holds no answer to the script starting" in message
    assert """the script starting "words() { tr""" in message  # its first line
    # The diff against the nearest recorded script shows the line that changed.
    shown = message.splitlines()
    assert any(line.startswith('-echo "packages=$(dpkg-query') for line in shown)
    added = [line for line in shown if line.startswith('+echo "packages=$(dpkg-query')]
    assert added == [
        "+echo \"packages=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' "
        "postfix 2>/dev/null \\"
    ]
    assert "sudo PYTHONPATH=. .venv/bin/python scripts/record.py" in message
    assert remote.misses == [message]  # kept, for a test where the engine catches errors


def test_a_recorded_script_streams_its_lines_as_the_live_one_did() -> None:
    (run,) = recorded_facts("debian12-interrupted").unfinished_runs
    lines: list[str] = []
    result = playback("debian12-interrupted").run(recovery_script([run]), on_line=lines.append)
    assert result.ok
    assert lines == ["reverted", f"@@RECOVERED {run} ssh-hardening awaiting-confirm reverted"]


def test_what_a_session_recorded_plays_the_session_back(tmp_path: Path) -> None:
    recording = Recording(playback("debian12-fresh"))  # stands in for a live session
    planned = session("debian12-fresh", tmp_path / "a", remote=recording).plan(
        "base", answers("base")
    )
    recording.save(tmp_path / "again.json", "made by a test")
    again = RecordedRemote.load(tmp_path / "again.json")
    replanned = session("debian12-fresh", tmp_path / "b", remote=again).plan(
        "base", answers("base")
    )
    assert [c.diff() for c in replanned.files] == [c.diff() for c in planned.files]
    assert again.host_fingerprint == recording.host_fingerprint
    assert again.stats.total_round_trips() == 2  # facts, then the plan's probe
