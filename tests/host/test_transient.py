"""A transient unit runs the command it was given, whatever daemon-reload comes between
(wizard.transient); an apply ends with its own result even when the systemd-run its session
follows leaves early."""

from __future__ import annotations

import string

import pytest

from tests.host.harness import Wizard
from tests.host.test_safety import server_file
from wizard.apply import start_command
from wizard.journal import RunPaths
from wizard.transient import PLAIN_WORD, systemd_run

pytestmark = pytest.mark.host
STORM_UNIT = "vw-test-reload-storm"
STORM_SCRIPT = "/root/vw-test-reload-storm.sh"
# With daemon-reloads back to back, 18% of 200 starts of the old `sh -c` command ran other
# code (measured on the Debian 12 test host): among this many applies, one at least would.
APPLIES = 15


@pytest.fixture
def wizard(testhost, wizard_factory) -> Wizard:
    wizard = wizard_factory(testhost)
    wizard.trust_host()
    return wizard


def exec_start_argv(wizard: Wizard, unit: str) -> str:
    """The command systemd holds for a unit, as `systemctl show` prints its argv."""
    shown = wizard.host.exec(f"systemctl show -p ExecStart --value {unit}").stdout
    return shown.split("argv[]=", 1)[1].split(" ; ", 1)[0]


def test_every_plain_word_comes_back_whole_after_a_daemon_reload(wizard):
    every_character = "".join(c for c in string.printable if PLAIN_WORD.fullmatch(c))
    assert len(every_character) == 26 * 2 + 10 + len("_./:=@+,-")
    commands = {
        "every plain character": ("/bin/echo", "--x=" + every_character),
        "the apply's start": start_command(RunPaths("20261208T000000000Z-abcdef")),
    }
    for index, command in enumerate(commands.values()):
        unit = f"vw-test-word-{index}"
        arm = systemd_run(("--quiet", f"--unit={unit}", "--on-active=1h"), command)
        wizard.host.exec(str(arm))
        try:
            before = exec_start_argv(wizard, unit + ".service")
            wizard.host.exec("systemctl daemon-reload")
            after = exec_start_argv(wizard, unit + ".service")
        finally:
            wizard.host.exec(f"systemctl stop {unit}.timer", check=False)
        assert before == after == " ".join(command), (before, after)


def test_applies_run_their_own_script_while_daemon_reloads_go_on(wizard):
    host = wizard.host
    host.exec(f"echo 'while true; do systemctl daemon-reload; done' > {STORM_SCRIPT}")
    host.exec(f"systemd-run --quiet --unit={STORM_UNIT} /bin/sh {STORM_SCRIPT}")
    session = wizard.session("root", extra_steps=True)
    try:
        for n in range(APPLIES):
            word = f"word{n}"
            outcome = session.apply(session.plan("note", {"text": word}))
            assert outcome.status == "done", outcome
            assert server_file(wizard, "/etc/vps-wizard-test/note.conf").endswith(
                f"word = {word}\n"
            )
    finally:
        session.close()
        host.exec(f"systemctl stop {STORM_UNIT}; rm -rf /etc/vps-wizard-test", check=False)
    # Nothing ran in place of a start: no file named after a shell variable in /.
    assert not [name for name in host.exec("ls -A /").stdout.split() if "$" in name]


def test_an_apply_whose_systemd_run_left_early_reports_its_own_end(wizard):
    host = wizard.host
    session = wizard.session("root", extra_steps=True)
    try:
        outcome = session.apply(
            session.plan("note", {"text": "followed", "lose_follower": True}),
            on_event=lambda _line: None,
        )
    finally:
        session.close()
        leftover = host.exec("cat /var/lib/vps-wizard-test.note", check=False).stdout
        host.exec("rm -rf /etc/vps-wizard-test /var/lib/vps-wizard-test.note", check=False)
    # The result came after the command's last line, not when systemd-run was killed.
    assert outcome.status == "done", outcome
    assert leftover == "followed\n"
