"""Files whose validation is the very same command, naming none of them, are validated once
together (wizard.apply._validations): Postfix's main.cf and master.cf are checked as one
configuration (3 s each), a validation that reads its own file ("$new") runs for each."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.unit.recordings import REPO, session
from wizard.apply import apply_script
from wizard.journal import RunPaths
from wizard.plan import FileChange, Plan, render_step

# The whole-series benchmark's answers: mail and dns-zone for example.net.
SERIES = tomllib.loads((REPO / "scripts" / "bench_series.toml").read_text())


def new_files_plan(home: Path, step_id: str, raw: dict) -> Plan:
    """The step's plan on the recorded server as if none of its files were there yet."""
    opened = session("debian12-day-one", home)
    step = opened.catalog.get(step_id)
    validated = opened.validate(step, raw)
    desired = render_step(step, opened.context(step, validated.values))
    files = tuple(
        FileChange(f.spec, f.dest, f.content, None, validate=f.validate) for f in desired.files
    )
    return Plan(step, validated, files, (), (), (), desired.packages)


def validation_logs(plan: Plan) -> list[str]:
    text = str(apply_script(plan, RunPaths("20261207T000000Z-abcdef"), 120))
    return [line for line in text.splitlines() if line.startswith("log 'validating ")]


def test_postfix_main_and_master_are_validated_once_together(tmp_path) -> None:
    raw = SERIES["mail"]
    logs = validation_logs(new_files_plan(tmp_path, "mail", raw))
    assert (
        "log 'validating /etc/postfix/vps-wizard/main.cf, /etc/postfix/vps-wizard/master.cf'"
        in logs
    )
    # merge.sh is checked by `sh -n "$new"`: its own validation; Dovecot's is another command.
    assert "log 'validating /etc/postfix/vps-wizard/merge.sh'" in logs
    assert "log 'validating /etc/dovecot/conf.d/99-vps-wizard.conf'" in logs
    assert len(logs) == 3


def test_a_validation_that_reads_its_own_file_runs_for_each(tmp_path) -> None:
    plan = new_files_plan(tmp_path, "dns-zone", SERIES["dns-zone"])
    named = [c for c in plan.files if c.validate is not None and "$new" in str(c.validate)]
    assert len(named) >= 2
    logs = validation_logs(plan)
    for change in named:
        assert f"log 'validating {change.dest}'" in logs
