"""After a reload, an apply waits until no worker of the old configuration is left (nginx and
Apache return from their reload while old workers still answer), at most about 1 s when the
children outlive a reload (sshd's sessions). The shell functions run here with a stand-in list
of children that changes over time; and the apply script reads the children before each
handler, after defining how."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.tui.conftest import new_file_plan
from wizard.apply import RENEW_WAIT_S, SETTLED, apply_script
from wizard.catalog import load_catalog
from wizard.journal import RunPaths

# vw_children replaced by one that prints the lines of $DIR/children-N on its Nth call.
STAND_IN = """
vw_children() {
  [ ! -e "$DIR/slow" ] || sleep 0.1
  n=$(cat "$DIR/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$DIR/calls"
  f="$DIR/children-$n"; [ -f "$f" ] || f=$(ls "$DIR"/children-* | sort -t- -k2 -n | tail -n 1)
  cat "$f"
}
"""


def renewed(tmp_path: Path, before: str, children: list[str]) -> tuple[float, int]:
    for index, text in enumerate(children, start=1):
        (tmp_path / f"children-{index}").write_text(text)
    started = time.monotonic()
    subprocess.run(
        ["sh", "-c", f'{SETTLED}\n{STAND_IN}\nvw_renewed nginx "$BEFORE"'],
        env={"PATH": "/usr/bin:/bin", "DIR": str(tmp_path), "BEFORE": before},
        check=True,
    )
    return time.monotonic() - started, int((tmp_path / "calls").read_text())


def test_waits_until_the_old_workers_are_gone(tmp_path):
    seconds, calls = renewed(tmp_path, "101\n102", ["101\n102\n", "101\n102\n201\n", "201\n"])
    assert calls == 3 and seconds < 0.5


def test_children_that_outlive_the_reload_are_waited_for_one_second_at_most(tmp_path):
    seconds, calls = renewed(tmp_path, "300", ["300\n"])
    assert RENEW_WAIT_S - 0.1 < seconds < RENEW_WAIT_S + 0.6 and calls > 10


def test_the_wait_is_bounded_by_the_clock_however_slow_each_look(tmp_path):
    """Each look at the children takes 0.1 s here (a busy server): the wait still ends after
    about a second, not after a count of looks (100 looks were 10 s)."""
    (tmp_path / "slow").write_text("")
    seconds, calls = renewed(tmp_path, "300", ["300\n"])
    assert RENEW_WAIT_S - 0.1 < seconds < RENEW_WAIT_S + 0.6 and 5 <= calls <= 11


def test_no_children_before_means_no_wait(tmp_path):
    (tmp_path / "children-1").write_text("1\n")
    started = time.monotonic()
    subprocess.run(
        ["sh", "-c", f'{SETTLED}\nvw_renewed nginx ""'],
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert time.monotonic() - started < 0.5


def test_the_script_reads_the_children_before_each_handler_after_defining_how():
    catalog = load_catalog()
    plan = new_file_plan(catalog, "web")
    text = str(apply_script(plan, RunPaths("20261207T000000Z-abcdef"), 120))
    (service, action), *_ = plan.handlers().items()
    defined = text.index("vw_children() {")
    read = text.index("vw_before_0=$(vw_children ")
    handler = text.index(f"log '{action} ", read)
    waited = text.index("&& vw_renewed ", handler)
    assert defined < read < handler < waited, service
    assert '"${vw_before_0:-}"' in text[waited : waited + 80]


def test_the_children_are_read_from_proc_by_the_shell(tmp_path):
    """vw_children with a known PID lists that process's children, one a line."""
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"], start_new_session=True)
    try:
        time.sleep(0.3)
        listed = subprocess.run(
            ["sh", "-c", f'{SETTLED}\nvw_children nginx "$P"'],
            env={"PATH": "/usr/bin:/bin", "P": str(parent.pid)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
        assert len(listed) == 2 and listed == children
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


def test_the_main_process_systemd_reported_settled_is_not_asked_again(tmp_path):
    """vw_settled reads the unit's state and main process in one systemctl call; vw_renewed
    then watches that process's children without asking systemd again."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"
    fake.write_text(
        '#!/bin/sh\necho "$*" >> "$DIR/systemctl-calls"\n'
        'printf "Type=notify\\nMainPID=$MAIN\\nActiveState=active\\n"\n'
    )
    fake.chmod(0o755)
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], start_new_session=True)
    try:
        time.sleep(0.2)
        child = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
        # The old worker goes 0.2 s after the wait starts.
        subprocess.Popen(["sh", "-c", f"sleep 0.2; kill {child[0]}"])
        started = time.monotonic()
        subprocess.run(
            ["sh", "-c", f'{SETTLED}\nvw_settled nginx && vw_renewed nginx "$BEFORE"'],
            env={
                "PATH": f"{bin_dir}:/usr/bin:/bin",
                "DIR": str(tmp_path),
                "MAIN": str(parent.pid),
                "BEFORE": child[0],
            },
            check=True,
        )
        seconds = time.monotonic() - started
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
    assert 0.15 < seconds < 0.8
    calls = (tmp_path / "systemctl-calls").read_text().splitlines()
    assert calls == ["show -p Type -p MainPID -p ActiveState -- nginx"]
