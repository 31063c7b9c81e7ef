"""The first screen comes before the engine's heavy parts and the step catalog: `vps-wizard
HOST` draws the connect screen without paramiko, cryptography, dnspython, any check area, the
session, the planner, Jinja, the step files (read and checked after it, before connecting) or
the screens that come later, and its own code adds little to what Textual itself does to start
and draw.

The command runs as a real process in a pseudo-terminal; a small wrapper records, when Textual
first writes the connect screen to the terminal, the modules loaded, the CPU time spent and,
in runs of their own, the calls the interpreter made (Python functions and built-ins, every
thread). The module lists are exact; the work our code adds is the calls it makes beyond a
bare Textual app drawing a form like it, measured in the same test: a count, unlike CPU time,
that the machine's load does not change (on this two-core VM the least of five runs' CPU time
varied by 0.1 s between two idle runs of the test, as much as the whole of what is measured).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Loaded by the connection or the checks, never for the first screen; Markdown's parser and
# Pygments come with the overview's help panel and the first diff.
HEAVY = ("paramiko", "cryptography", "nacl", "bcrypt", "invoke", "dns", "jinja2")
HEAVY += ("markdown_it", "pygments")
# The engine behind the connection: the session, what it plans, applies and runs.
ENGINE = [
    "wizard.session",
    "wizard.remote",
    "wizard.facts",
    "wizard.plan",
    "wizard.preview",
    "wizard.workflow",
    "wizard.apply",
    "wizard.render",
    "wizard.answerfile",
    "wizard.checks.base",
]
# The step catalog: read and schema-checked after the first screen, before connecting.
CATALOG = ["wizard.catalog", "wizard.stepschema", "wizard.steps", "wizard.answers", "tomllib"]
# The screens after the connect screen, loaded when they are first shown.
LATER_SCREENS = [
    "screens.overview",
    "screens.questions",
    "screens.review",
    "screens.review_all",
    "screens.applylog",
    "screens.apply",
    "screens.verify",
    "screens.widgets.diff_view",
]
# The check areas: loaded when a step's checks run, not to draw a form.
AREAS = [
    "system",
    "ssh",
    "firewall",
    "fail2ban",
    "web",
    "database",
    "vhost",
    "tls",
    "hsts",
    "dns",
    "dnssec",
    "mail",
    "mail_auth",
    "dane",
]
# Calls our code adds to Textual's own start (its import and the first paint of the same form),
# the least of two runs of each: Textual's own start makes 581,000 calls (0.30-0.35 s of CPU
# here), the first screen 722,000 (0.38-0.45 s), under the suite's load too; paramiko imported
# before the first screen adds 83,000 more. A run now and then makes 5,000 more (one more pass
# of the event loop before the paint): the least of two counts the code, not that.
OWN_CALL_BUDGET = 175_000
# Against a start that hangs or loads something big in C, where calls do not show it: the
# whole first screen's CPU time, the least of the runs that do not count calls (0.36-0.54 s).
CPU_LIMIT = 0.8
# Wall time for the whole process to reach the screen: generous (seen 0.6 s idle, 2.6 s with
# seven agents on two cores), against a start that hangs or waits on the network.
WALL_LIMIT = 10.0
RUNS = 2

# Ends the process at Textual's first write of the given screen class to the terminal,
# recording the modules loaded, the CPU time (all threads) spent until then and, when asked
# (VW_COUNT_CALLS), the calls made by every thread, counted from before Textual's import.
AT_FIRST_PAINT = """
import json, os, resource, sys, threading

calls = 0

def count(frame, event, arg):
    global calls
    if event == "call" or event == "c_call":
        calls += 1

if os.environ.get("VW_COUNT_CALLS"):
    sys.setprofile(count)
    threading.setprofile(count)

import textual.app

drawn = textual.app.App._display

def _display(self, screen, update):
    drawn(self, screen, update)
    if type(screen).__name__ != os.environ["VW_FIRST_SCREEN"]:
        return
    sys.setprofile(None)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    path = os.environ["VW_STARTUP_REPORT"]
    report = {"modules": sorted(sys.modules), "cpu": usage.ru_utime + usage.ru_stime}
    report["calls"] = calls
    with open(path + ".part", "w") as out:
        json.dump(report, out)
    os.replace(path + ".part", path)  # whole, or not there: the test reads it once it exists
    os._exit(0)

textual.app.App._display = _display
"""
WIZARD = (
    AT_FIRST_PAINT
    + """
import vps_wizard
sys.exit(vps_wizard.main(sys.argv[1:]))
"""
)
# Textual alone: its import and the first paint of a form like the connect screen's (the same
# widgets, no styles of its own, no code behind it).
TEXTUAL_ALONE = (
    AT_FIRST_PAINT
    + """
from textual.app import App
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, LoadingIndicator, Static

class Bare(Screen):
    def compose(self):
        yield Header()
        with VerticalScroll():
            yield Static("Connect to a fresh Debian or Ubuntu server.")
            for name in ("Server", "Login", "Private key file", "Password"):
                yield Static(name)
                yield Input("", placeholder=name, compact=True)
                yield Static("What to type here.")
        with Horizontal():
            yield LoadingIndicator()
            yield Static("")
            yield Button("Connect", variant="primary", compact=True)
        yield Footer()

class BareApp(App):
    def on_mount(self):
        self.push_screen(Bare())

BareApp().run()
"""
)


def first_paint(
    tmp_path: Path, code: str, screen: str, args: list[str], count_calls: bool = False
) -> dict[str, object]:
    """Run the code in a terminal until it first draws `screen`; its report."""
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    env = {
        **os.environ,
        "VW_STARTUP_REPORT": str(report),
        "VW_FIRST_SCREEN": screen,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state-home"),
        "TERM": "xterm-256color",
        # Compiled once, as an installed package is: not each run (the first run compiles).
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(tmp_path.parent / "pycache"),
        "VW_COUNT_CALLS": "1" if count_calls else "",
    }
    argv = [sys.executable, "-c", code, *args]
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, with the terminal as its stdin and stdout
        os.chdir(REPO)
        os.execve(sys.executable, argv, env)
    try:
        while time.monotonic() - start < WALL_LIMIT and not report.exists():
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    os.read(fd, 65536)  # the terminal must be read, or the app blocks on it
                except OSError:
                    break
    finally:
        with_status = os.waitpid(pid, os.WNOHANG)
        if with_status == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert report.exists(), f"no {screen} within {WALL_LIMIT} s"
    return json.loads(report.read_text())


def wizard_first_screen(tmp_path: Path, count_calls: bool = False) -> dict[str, object]:
    """`vps-wizard 127.0.0.1:9` until its connect screen is drawn."""
    args = ["127.0.0.1:9", "--known-hosts", str(tmp_path / "known_hosts")]
    args += ["--state", str(tmp_path / "s.db")]
    return first_paint(tmp_path, WIZARD, "ConnectScreen", args, count_calls)


def textual_first_screen(tmp_path: Path, count_calls: bool = False) -> dict[str, object]:
    """The bare Textual app until its form is drawn."""
    return first_paint(tmp_path, TEXTUAL_ALONE, "Bare", [], count_calls)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    """The wizard's first screen and Textual's alone, alternated (after one run of each that
    compiles and warms the file cache): runs as they are, then runs that count calls; each
    run's report, by kind."""
    wizard_dir = tmp_path_factory.mktemp("wizard")
    textual_dir = tmp_path_factory.mktemp("textual")
    wizard_first_screen(wizard_dir)
    textual_first_screen(textual_dir)
    measured: dict[str, list[dict[str, object]]] = {
        kind: [] for kind in ("wizard", "textual", "wizard calls", "textual calls")
    }
    for count_calls in (False, True):
        suffix = " calls" if count_calls else ""
        for _ in range(RUNS):
            measured["wizard" + suffix].append(wizard_first_screen(wizard_dir, count_calls))
            measured["textual" + suffix].append(textual_first_screen(textual_dir, count_calls))
    return measured


def test_the_first_screen_loads_no_connection_library_nor_check(runs) -> None:
    for run in runs["wizard"] + runs["wizard calls"]:
        modules = set(run["modules"])
        assert "screens.connect" in modules and "textual.app" in modules
        loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
        assert not loaded, f"imported before the first screen: {loaded[:10]}"
        areas = sorted(m for m in modules if m.removeprefix("wizard.checks.") in AREAS)
        assert not areas, f"check areas imported before the first screen: {areas}"
        engine = sorted(m for m in modules if m in ENGINE)
        assert not engine, f"the engine imported before the first screen: {engine}"


def test_the_steps_and_the_later_screens_load_after_the_first_screen(runs) -> None:
    for run in runs["wizard"] + runs["wizard calls"]:
        modules = set(run["modules"])
        catalog = sorted(m for m in modules if m in CATALOG)
        assert not catalog, f"the step catalog read before the first screen: {catalog}"
        later = sorted(m for m in modules if m in LATER_SCREENS)
        assert not later, f"screens imported before they are shown: {later}"


def test_the_first_screen_adds_few_calls_to_textuals_own_start(runs) -> None:
    wizard = min(int(r["calls"]) for r in runs["wizard calls"])  # type: ignore[call-overload]
    alone = min(int(r["calls"]) for r in runs["textual calls"])  # type: ignore[call-overload]
    print(f"first screen: {wizard:,} calls, Textual alone {alone:,}")
    assert alone > 100_000, f"Textual's start counted {alone} calls: the count is broken"
    assert wizard - alone < OWN_CALL_BUDGET, (
        f"the first screen makes {wizard - alone:,} calls more than Textual's own start "
        f"(the wizard {wizard:,}, Textual {alone:,}, the least of {RUNS} runs): "
        f"more than {OWN_CALL_BUDGET:,}"
    )


def test_the_first_screen_takes_little_cpu(runs) -> None:
    wizard = [float(r["cpu"]) for r in runs["wizard"]]  # type: ignore[arg-type]
    alone = [float(r["cpu"]) for r in runs["textual"]]  # type: ignore[arg-type]
    print(f"first screen: {sorted(wizard)} s of CPU, Textual alone {sorted(alone)} s")
    assert min(wizard) < CPU_LIMIT, f"{min(wizard):.2f} s of CPU before the first screen"
