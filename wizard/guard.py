"""Lockout guard: a revert armed on the server that only a fresh, working session disarms.

If the change cuts SSH off, or the wizard dies before confirming, systemd on the server runs
the restore by itself when the timer fires.
"""

from __future__ import annotations

import shlex

from wizard.journal import RunPaths


def revert_unit(run_id: str) -> str:
    """The transient unit that restores the backups of this run."""
    return f"vps-wizard-revert-{run_id}"


def arm_revert_lines(paths: RunPaths, run_id: str, seconds: int) -> str:
    """Shell lines, for the apply script, that arm the revert before the reload."""
    unit = revert_unit(run_id)
    return (
        f"systemd-run --quiet --unit={unit} --on-active={int(seconds)}s "
        f"--timer-property=AccuracySec=1s /bin/sh {shlex.quote(paths.restore)} "
        f"|| fail 'could not arm the lockout guard (systemd-run)'\n"
        f"log 'lockout guard armed: the server reverts in {int(seconds)} s unless a new session "
        "confirms'\n"
    )


def confirm_script(paths: RunPaths, run_id: str) -> str:
    """Run from the new session: proves sudo works, disarms the revert, records success.

    It takes the run's lock, as the restore does, so a timer firing at the same moment either
    reverts first (and the confirmation says so) or never runs.
    """
    unit = revert_unit(run_id)
    status = shlex.quote(paths.status)
    return (
        f"exec 9>>{shlex.quote(paths.dir)}/lock; flock 9\n"
        f"systemctl stop {unit}.timer 2>/dev/null\n"
        f"s=$(cat {status})\n"
        'if [ "$s" != awaiting-confirm ]; then echo "@@NOT-AWAITING $s"; exit 3; fi\n'
        f"echo done > {status}.tmp && mv -f {status}.tmp {status}\n"
        "echo @@CONFIRMED\n"
    )


def revert_now_script(paths: RunPaths, run_id: str) -> str:
    """Run from the old session when the new one failed: revert at once, not at the timer."""
    unit = revert_unit(run_id)
    return (
        f"systemctl stop {unit}.timer 2>/dev/null\n"
        f"/bin/sh {shlex.quote(paths.restore)}\n"
        f"cat {shlex.quote(paths.status)}\n"
    )
