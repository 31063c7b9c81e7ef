"""The scripts an apply sends are valid shell whatever the commands and contents hold."""

from __future__ import annotations

import subprocess

import pytest

from wizard.answers import Answers
from wizard.apply import apply_script, cleanup_script, restore_script, stage_script
from wizard.journal import RunPaths
from wizard.plan import CommandChange, FileChange, Plan
from wizard.steps import Command, FileSpec, Step

TRICKY = [
    "mariadb -N -e \"SELECT COUNT(*) FROM information_schema.tables WHERE engine='MyISAM'\"",
    "mariadb -e \"SELECT 'x' FROM t WHERE a = `b`\"",
    "echo $HOME \\ 'quoted' \"double\"",
    "printf '%s\\n' VW_SCRIPT_END VW_FILE_END",
]


def tricky_plan(command: str) -> Plan:
    step = Step(
        "tricky",
        "Tricky",
        "help",
        guard="lockout",
        handlers={"ssh": "reload"},
        files=(FileSpec("t.j2", "/etc/x.conf", notify=("ssh",), validate="test -s {new}"),),
    )
    content = b"VW_FILE_END\nVW_SCRIPT_END\n'\"$`\\\n"
    return Plan(
        step=step,
        answers=Answers("tricky", {}),
        files=(FileChange(step.files[0], "/etc/x.conf", content, None),),
        commands=(CommandChange(Command(command), command, None, "false", True),),
        missing_packages=("nginx",),
        services_to_enable=("nginx",),
    )


@pytest.mark.parametrize("command", TRICKY)
def test_every_script_parses(command):
    plan = tricky_plan(command)
    paths = RunPaths("20260101T000000Z-abcdef")
    scripts = {
        "apply": apply_script(plan, paths, 60),
        "restore": restore_script(plan, paths),
        "cleanup": cleanup_script(plan, paths),
    }
    scripts["stage"] = stage_script(plan, paths, *scripts.values())
    for name, script in scripts.items():
        checked = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"
    if "VW_SCRIPT_END" in command:
        # A script holding the heredoc's delimiter gets another one, or it would be cut.
        assert "<<'VW_SCRIPT_END_X'" in scripts["stage"]
