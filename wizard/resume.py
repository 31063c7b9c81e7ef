"""Taking up a server again: whether it backs this machine's record (its traces of the wizard,
the manifest of files), and the runs a dropped connection or a killed wizard left behind."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wizard.apply import INSTALL_STEP
from wizard.facts import ServerTraces as ServerTraces  # read with the facts, judged here
from wizard.facts import parse_traces as parse_traces
from wizard.facts import traces_script as traces_script
from wizard.guard import revert_now_script
from wizard.journal import RunPaths
from wizard.runlock import ALIVE_FUNCTION
from wizard.runstatus import RunStatus, case_pattern
from wizard.shell import Shell, script, sh
from wizard.state import StepRecord, StepState


@dataclass(frozen=True)
class ResetSuspected:
    """The server does not back this machine's record: reinstalled, reset, or another one.

    Nothing the record claims is shown as applied or verified until the user starts over
    (the old record archived) or verifies step by step what is still true.
    """

    reason: str
    claimed: tuple[str, ...]

    @property
    def message(self) -> str:
        """What the CLI and the TUI say."""
        return (
            f"the server looks reinstalled or reset: {self.reason}. This machine's record "
            f"says {', '.join(self.claimed)} applied; none of it is shown as applied or "
            "verified."
        )


def recovery_script(run_ids: Iterable[str]) -> Shell:
    """For each unfinished run: left alone while its owner lives, else finished or undone."""
    parts = [ALIVE_FUNCTION]
    for run_id in run_ids:
        paths = RunPaths(run_id)
        parts.append(
            sh(
                "s=$(cat {status}); step=$(cat {step_file})\n"
                'if vw_alive {run}; then echo @@LIVE {run} "$step $s"; else\n'
                'case "$s" in\n'
                "  {started}) sh {cleanup}; echo {failed} > {status};;\n"
                "  {unfinished})\n{revert};;\n"
                "esac\n"
                'echo @@RECOVERED {run} "$step $s $(cat {status})"\nfi',
                status=paths.status,
                step_file=paths.step_file,
                run=run_id,
                cleanup=paths.cleanup,
                revert=revert_now_script(paths, run_id),
                started=case_pattern(RunStatus.STARTED),
                failed=RunStatus.FAILED,
                unfinished=case_pattern(RunStatus.WRITING, RunStatus.AWAITING_CONFIRM),
            )
        )
    return script(*parts)


@dataclass(frozen=True)
class Recovered:
    """What recovery did with one run, as the user reads it."""

    notice: str
    run_id: str = ""
    step_id: str = ""
    # The run's status after recovery; empty for a run left to its live owner.
    status: str = ""


def parse_recovery(output: str) -> list[Recovered]:
    """What recovery_script printed, a notice per run."""
    found = []
    for line in output.splitlines():
        if line.startswith("@@LIVE "):
            _, run_id, step_id, status = (line.split() + [""] * 4)[:4]
            found.append(
                Recovered(
                    f"run {run_id} ({step_id}) is still under way on the server ({status}): "
                    "it ends by itself (finished, or rolled back by its own timer)"
                )
            )
        elif line.startswith("@@RECOVERED "):
            _, run_id, step_id, before, after = (line.split() + [""] * 5)[:5]
            if before == after:
                notice = f"run {run_id} ({step_id}) had already ended: {after}"
            elif step_id == INSTALL_STEP:
                # No file to put back: its cleanup removed policy-rc.d (held daemons stay
                # held for their steps); dpkg may be half way through.
                notice = (
                    f"run {run_id} (the packages of a run of steps) was interrupted while "
                    f"'{before}': its hold on the daemons is lifted. If apt says dpkg was "
                    "interrupted, run sudo dpkg --configure -a, then apply the steps again."
                )
            else:
                notice = (
                    f"run {run_id} ({step_id}) was interrupted while '{before}': undone "
                    f"({after}); every file is back as it was. Apply the step again."
                )
            found.append(Recovered(notice, run_id, step_id, after))
    return found


def unconfirmed(steps: Mapping[str, StepRecord], claimed: Iterable[str]) -> dict[str, StepRecord]:
    """The claimed steps of a record the server does not back, none applied or verified."""
    result = dict(steps)
    for step_id in claimed:
        record = steps[step_id]
        if record.status == StepState.UNCONFIRMED:
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.updated))
        result[step_id] = dataclasses.replace(
            record,
            status=StepState.UNCONFIRMED,
            checked=0.0,
            message=f"this machine's record says it was applied ({when} UTC), the server does "
            "not back it: verify it, or start over",
        )
    return result


def verified_only_when_backed(
    steps: Mapping[str, StepRecord], manifest: frozenset[str]
) -> dict[str, StepRecord]:
    """ "verified" kept only with the time of its check and its files in the manifest."""
    result = dict(steps)
    for step_id, record in steps.items():
        if record.status != StepState.VERIFIED:
            continue
        missing = sorted(set(record.files) - manifest)
        if not record.checked:
            why = "no time of a check that verified it is recorded: verify it again"
        elif missing:
            why = (
                f"the server's manifest does not list {', '.join(missing)}: not verified; "
                "apply the step again"
            )
        else:
            continue
        result[step_id] = dataclasses.replace(record, status=StepState.APPLIED, message=why)
    return result


def drifted(steps: Mapping[str, StepRecord], changed: Iterable[str]) -> dict[str, StepRecord]:
    """Applied or verified steps whose files were changed on the server since: drifted."""
    changed = set(changed)
    result = dict(steps)
    for step_id, record in steps.items():
        files = sorted(changed & set(record.files))
        if files and record.status in (StepState.APPLIED, StepState.VERIFIED):
            result[step_id] = dataclasses.replace(
                record,
                status=StepState.DRIFTED,
                message="changed on the server since the wizard wrote it: " + ", ".join(files),
            )
    return result
