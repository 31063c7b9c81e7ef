"""A step that needs no new kind of check needs no Python (issue 9's acceptance).

The test-only step tests/host/steps/data-only is a step.toml and one template: a list answer
(the operators), a table answer (the commands they may run), an integer, a question asked only
`when` another answer says so (the log file), the named validator `sudoers` and the generic
`command` check. Applied through the CLI with an answers file on a real host, it works; a file
sudoers cannot read is refused by the validator and the old one stays; the command check fails
when the file it watches is gone, and applying the step again repairs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.host.harness import Wizard, assert_fails, checks

pytestmark = pytest.mark.host
STEP = "data-only"
DEST = "/etc/sudoers.d/vps-wizard-test-operators"
LOG = "/var/log/vps-wizard-operators.log"


def answers(log: str = "log = false", args: str = "restart ssh") -> str:
    return f"""\
[data-only]
operators = ["alice", "bob"]
timeout = 3
{log}

[[data-only.commands]]
name = "RESTART_SSH"
path = "/usr/bin/systemctl"
args = "{args}"

[[data-only.commands]]
name = "JOURNAL"
path = "/usr/bin/journalctl"
"""


def apply(wizard: Wizard, tmp_path: Path, text: str):
    path = tmp_path / "answers.toml"
    path.write_text(text)
    target = f"root@{wizard.host.address}"
    return wizard.cli("apply", target, "--answers", str(path), "--step", STEP, "--yes")


def server_file(wizard: Wizard) -> str:
    return wizard.host.exec(f"cat {DEST}").stdout


@pytest.fixture
def wizard(fresh_testhost, wizard_factory) -> Wizard:
    laptop = wizard_factory(fresh_testhost)
    laptop.trust_host()
    return laptop


def test_a_data_only_step_applies_verifies_refuses_and_repairs(wizard, tmp_path):
    host = wizard.host

    # The list, the table and the integer reach the file; the log file is not asked.
    first = apply(wizard, tmp_path, answers())
    assert first.returncode == 0, first.stdout + first.stderr
    text = server_file(wizard)
    assert "User_Alias VW_OPERATORS = alice, bob\n" in text
    assert "Cmnd_Alias VW_RESTART_SSH = /usr/bin/systemctl restart ssh\n" in text
    assert "Cmnd_Alias VW_JOURNAL = /usr/bin/journalctl\n" in text
    assert "Defaults:VW_OPERATORS timestamp_timeout=3\n" in text
    assert "logfile" not in text
    assert "VW_OPERATORS ALL = (root) NOPASSWD: VW_RESTART_SSH, VW_JOURNAL\n" in text
    assert host.exec("stat -c %a " + DEST).stdout.strip() == "440"
    for user in ("alice", "bob"):
        assert host.exec(f"getent passwd {user}").stdout.startswith(f"{user}:")

    result = checks(wizard, STEP)["command"]
    assert result["status"] == "ok", result
    assert result["summary"] == "the operators alice, bob may run their commands as root"
    assert "exit code 0" in result["evidence"]

    # `when`: asked once log is on, and then needed.
    refused = apply(wizard, tmp_path, answers(log="log = true"))
    assert refused.returncode == 1
    assert "nothing was changed: data-only.log_file: an answer is needed" in refused.stderr
    logged = apply(wizard, tmp_path, answers(log=f'log = true\nlog_file = "{LOG}"'))
    assert logged.returncode == 0, logged.stdout + logged.stderr
    good = server_file(wizard)
    assert f"Defaults:VW_OPERATORS logfile={LOG}\n" in good

    # A value sudoers cannot read: the validator refuses the new file, the old one stays.
    broken = apply(wizard, tmp_path, answers(log=f'log = true\nlog_file = "{LOG}"', args="a,"))
    output = broken.stdout + broken.stderr
    assert broken.returncode == 1, output
    assert f"validation of {DEST} failed" in output
    assert server_file(wizard) == good
    assert not host.exec(f"ls {DEST}.vw-new.* 2>/dev/null", check=False).stdout
    assert host.exec("sudo -n -l -U alice /usr/bin/journalctl", check=False).returncode == 0

    # What the command check watches is broken by hand: it fails, saying who may not.
    host.exec(f"rm {DEST}")
    result = checks(wizard, STEP)["command"]
    assert_fails(result, "alice may not run /usr/bin/systemctl", "exited 1, expected 0")
    assert "apply the step again" in result["hint"]

    # Applying the step again repairs it.
    again = apply(wizard, tmp_path, answers(log=f'log = true\nlog_file = "{LOG}"'))
    assert again.returncode == 0, again.stdout + again.stderr
    assert server_file(wizard) == good
    assert checks(wizard, STEP)["command"]["status"] == "ok"
