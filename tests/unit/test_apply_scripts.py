"""The scripts an apply sends are valid shell whatever the commands and contents hold."""

from __future__ import annotations

import subprocess

import pytest

from wizard.answers import Answers
from wizard.apply import (
    apply_script,
    cleanup_script,
    restore_script,
    stage_script,
    validate_command,
)
from wizard.journal import RunPaths
from wizard.plan import CommandChange, FileChange, Plan, render_validate
from wizard.shell import Shell
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
        files=(
            FileChange(
                step.files[0],
                "/etc/x.conf",
                content,
                None,
                validate=render_validate(step, "test -s {new}", {}),
            ),
        ),
        # A step's own command text is code (as its step.toml wrote it).
        commands=(CommandChange(Command(command), Shell(command), None, Shell("false"), True),),
        missing_packages=("nginx",),
        services_to_enable=("nginx",),
        packages=step.packages,
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
    # Every script and file travels base64-encoded: no content can end its here-document.
    assert command not in scripts["stage"]


STEP = Step("validate", "Validate", "help")


def test_validate_in_checks_a_copy_with_the_staged_files_in_place(tmp_path):
    tree = tmp_path / "conf"
    (tree / "sites").mkdir(parents=True)
    (tree / "main.conf").write_text(f"include {tree}/sites/site.conf;\n")
    (tree / "sites" / "site.conf").write_text("old\n")
    (tree / "sites" / "site.conf.vw-new.RUN").write_text("new\n")
    spec = FileSpec(
        "site.j2",
        f"{tree}/sites/site.conf",
        validate="cat {copy}/main.conf && grep -qx new {copy}/sites/site.conf",
        validate_in=str(tree),
    )
    change = FileChange(
        spec, spec.dest, b"new\n", None, validate=render_validate(STEP, spec.validate, {})
    )
    passed = subprocess.run(["sh", "-c", validate_command(change, "RUN")], capture_output=True)
    assert passed.returncode == 0, passed.stderr
    # The copy's own paths point into the copy, and the live tree is left as it was.
    assert str(tree) not in passed.stdout.decode()
    assert (tree / "sites" / "site.conf").read_text() == "old\n"
    assert (tree / "sites" / "site.conf.vw-new.RUN").exists()
    failing = FileChange(
        FileSpec(
            "site.j2",
            spec.dest,
            validate="grep -qx old {copy}/sites/site.conf",
            validate_in=str(tree),
        ),
        spec.dest,
        b"new\n",
        None,
        validate=render_validate(STEP, "grep -qx old {copy}/sites/site.conf", {}),
    )
    refused = subprocess.run(["sh", "-c", validate_command(failing, "RUN")], capture_output=True)
    assert refused.returncode != 0
