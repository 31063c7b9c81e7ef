"""Run ids: the server lists a run's journal by its id, newest last."""

from __future__ import annotations

import re
import time

from wizard.journal import new_run_id
from wizard.recorded import script_key


def test_runs_started_in_the_same_second_list_in_the_order_they_started():
    made = []
    for _ in range(5):
        made.append(new_run_id())
        time.sleep(0.002)
    assert sorted(made) == made
    assert len(set(made)) == len(made)
    # All inside one or two seconds: the seconds alone could not have ordered them.
    assert len({run_id[:15] for run_id in made}) <= 2


def test_a_run_id_is_a_safe_path_and_unit_name_word_and_is_normalized_in_recordings():
    run_id = new_run_id()
    assert re.fullmatch(r"\d{8}T\d{9}Z-[0-9a-f]{6}", run_id)
    assert script_key(f"/var/lib/vps-wizard/runs/{run_id}/status") == (
        "/var/lib/vps-wizard/runs/RUN-ID/status"
    )
