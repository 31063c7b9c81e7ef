"""Recovery on connect, from real servers' recorded answers: a run a wizard left behind is
undone once its owner is gone, and left alone while it is not (tests/unit/recordings)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.recordings import recorded_facts, session


def test_a_run_left_awaiting_confirmation_without_its_timer_is_undone_on_connect(
    tmp_path: Path,
) -> None:
    opened = session("debian12-interrupted", tmp_path)
    (run,) = recorded_facts("debian12-interrupted").unfinished_runs
    assert opened.notices == [
        f"run {run} (ssh-hardening) was interrupted while 'awaiting-confirm': undone "
        "(reverted); every file is back as it was. Apply the step again."
    ]
    assert opened.store.runs(opened.host.key) == [
        (run, "ssh-hardening", "reverted", "recovered on connect")
    ]
    # The steps the server's copy holds stay as they were; the undone one is not applied.
    statuses = {sid: record.status for sid, record in opened.host.steps.items()}
    assert statuses == {"base": "verified", "admin-user": "verified"}
    assert opened.host.step("ssh-hardening").status == "pending"
    assert opened.reset is None


def test_a_run_whose_revert_timer_still_runs_is_left_to_its_wizard(tmp_path: Path) -> None:
    opened = session("debian12-run-waiting", tmp_path)
    (run,) = recorded_facts("debian12-run-waiting").unfinished_runs
    assert opened.notices == [
        f"run {run} (ssh-hardening) is still under way on the server (awaiting-confirm): "
        "it ends by itself (finished, or rolled back by its own timer)"
    ]
    assert opened.store.runs(opened.host.key) == []
