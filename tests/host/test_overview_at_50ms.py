"""The overview after connect over a 50 ms round-trip link (the issue's budget: under 1 s).

What the link multiplies is held exactly: from the TUI's start to the steps shown, the SSH
handshake's 5 round trips and the facts command's 2 on a fresh server as root (the script
comes in the pipe's command line), nothing more (the screens add none). The time is printed,
with the seconds of each phase and the CPU time spent, and held only against a hang (wall
time) and against added work (CPU time, which a loaded machine disturbs less): measured
0.79-1.6 s on the second start (0.26-0.40 s SSH, 0.31-0.44 s facts of which about 0.2 s the
server's script, the rest the app), 1.47-2.2 s on the first (paramiko imported by the
connection), with seven agents on two cores; 2.5-3.6 s with the load at 10 (everything waits
its turn for a core there; the CPU times below hold better). With the facts script's parts at
once and in the command line: 0.91-0.95 s on the second start, 1.02-1.12 s on the first (facts
0.22-0.25 s), at a load of 2.8.
"""

from __future__ import annotations

import resource
import time

import pytest

from screens.app import WizardApp
from tests.host.pilot import overview_ready
from wizard.catalog import load_catalog
from wizard.endpoint import ConnectOptions, Credentials, Stats, Target
from wizard.session import Session
from wizard.state import StateStore
from wizard.testhost.machine import write_known_hosts
from wizard.testhost.relay import DelayRelay

pytestmark = pytest.mark.host
RTT = 0.05
WALL_LIMIT = 10.0
# How often the test looks whether the overview is there: the shared wait_until looks every
# 0.1 s, which would add up to that much to the time measured.
LOOK_SECONDS = 0.01
# CPU seconds of this process (the app, its workers, the relay's thread, the Pilot) from the
# app's start to the overview. Measured 0.80-0.94 s on the first start (paramiko, Markdown and
# the overview's screen imported on the way) and 0.64-0.76 s on the second with the load at 10
# on two cores; the connect screen's spinner alone takes 0.05 s of CPU per second it turns, so
# the load's longer waits add some. Held with room, against a change that adds work on the way.
CPU_LIMIT = 1.6


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def overview_seconds(host, home, address: str, port: int) -> tuple[float, float, Stats]:
    """Start the real TUI on the host through the relay; seconds until the overview, and the
    CPU seconds spent meanwhile."""
    options = ConnectOptions(
        Target(address, "root", port),
        Credentials(str(host.root_key_path)),
        known_hosts=home / "known_hosts",
    )
    app = WizardApp(load_catalog(), StateStore(home / "state.db"), options, Session.open)
    start, cpu = time.monotonic(), cpu_seconds()
    async with app.run_test(size=(120, 40)) as pilot:
        while not overview_ready(app):
            assert time.monotonic() - start < WALL_LIMIT, f"stuck on {app.screen!r}"
            await pilot.pause(LOOK_SECONDS)
        elapsed, cpu = time.monotonic() - start, cpu_seconds() - cpu
        await pilot.press("q")
    return elapsed, cpu, app.stats


async def test_the_overview_over_50_ms_takes_seven_round_trips(fresh_testhost, tmp_path):
    with DelayRelay(fresh_testhost.address, fresh_testhost.port, delay_s=RTT) as relay:
        address, port = relay.start()
        write_known_hosts(fresh_testhost, tmp_path / "known_hosts", [(address, port)])
        for start in ("first", "second"):
            seconds, cpu, stats = await overview_seconds(fresh_testhost, tmp_path, address, port)
            trips = {phase: s.round_trips for phase, s in stats.phases.items()}
            spent = ", ".join(f"{phase} {s.seconds:.2f} s" for phase, s in stats.phases.items())
            print(
                f"{start} start: overview after {seconds:.2f} s, {cpu:.2f} s of CPU ({spent}), "
                f"round trips {trips}"
            )
            assert trips == {"connect": 5, "facts": 2}, trips
            assert seconds < WALL_LIMIT, f"the overview came after {seconds:.1f} s"
            assert cpu < CPU_LIMIT, f"{cpu:.2f} s of CPU before the overview"
