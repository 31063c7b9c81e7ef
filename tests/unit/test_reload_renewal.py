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
from wizard.apply import RENEW_POLLS, SETTLED, apply_script
from wizard.catalog import load_catalog
from wizard.journal import RunPaths

# vw_children replaced by one that prints the lines of $DIR/children-N on its Nth call.
STAND_IN = """
vw_children() {
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
    assert 0.9 < seconds < 3 and calls == RENEW_POLLS


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
