"""After its handlers an apply waits until systemd reports each service settled, not a fixed
time: the shell function runs here against a stand-in `systemctl` that answers as systemd does
for a service in transition, then settled."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from wizard.apply import SETTLED

# A stand-in for `systemctl show -p Type -p MainPID -p ActiveState UNIT`: it reads its answers
# from a file, one per call (the last one repeats), and counts the calls.
FAKE_SYSTEMCTL = """#!/bin/sh
n=$(cat "$DIR/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$DIR/calls"
line=$(sed -n "${n}p" "$DIR/answers"); [ -n "$line" ] || line=$(tail -n 1 "$DIR/answers")
printf '%s\\n' "$line" | tr ' ' '\\n'
"""


def settle(tmp_path: Path, answers: list[str]) -> tuple[int, float, str]:
    """Run vw_settled against the answers; how many times it asked, how long, what it said."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL)
    fake.chmod(0o755)
    (tmp_path / "answers").write_text("\n".join(answers) + "\n")
    started = time.monotonic()
    result = subprocess.run(
        ["sh", "-c", f'log() {{ echo "LOG $*"; }}\n{SETTLED}\nvw_settled nginx'],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    calls = int((tmp_path / "calls").read_text())
    return calls, time.monotonic() - started, result.stdout


def test_a_reloading_service_is_waited_for_until_active_with_its_main_process(tmp_path):
    calls, _, said = settle(
        tmp_path,
        [
            "Type=forking MainPID=120 ActiveState=reloading",
            "Type=forking MainPID=120 ActiveState=reloading",
            "Type=forking MainPID=0 ActiveState=active",
            "Type=forking MainPID=130 ActiveState=active",
        ],
    )
    assert calls == 4 and said == ""


def test_a_settled_service_costs_one_look_not_a_second(tmp_path):
    calls, seconds, _ = settle(tmp_path, ["Type=notify MainPID=77 ActiveState=active"])
    assert calls == 1 and seconds < 0.5


def test_a_oneshot_a_stopped_or_an_unknown_unit_is_settled(tmp_path):
    for answer in (
        "Type=oneshot MainPID=0 ActiveState=active",
        "Type=simple MainPID=0 ActiveState=failed",
        "Type=simple MainPID=0 ActiveState=inactive",
    ):
        case = tmp_path / answer.split()[0].split("=")[1] / answer.split()[2]
        case.mkdir(parents=True)
        assert settle(case, [answer])[0] == 1


def test_every_unit_a_pattern_names_must_settle(tmp_path):
    # `systemctl show 'php*-fpm.service'` answers a paragraph per unit.
    calls, _, _ = settle(
        tmp_path,
        [
            "Type=notify MainPID=5 ActiveState=active  Type=notify MainPID=6 ActiveState=reloading",
            "Type=notify MainPID=5 ActiveState=active  Type=notify MainPID=6 ActiveState=active",
        ],
    )
    assert calls == 2
