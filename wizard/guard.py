"""Lockout guard: a revert armed on the server that only a fresh, working session disarms.

If the change cuts SSH off, or the wizard dies before confirming, systemd on the server runs
the restore by itself when the timer fires.
"""

from __future__ import annotations

from wizard.journal import RunPaths
from wizard.shell import Shell, sh
from wizard.transient import systemd_run


def revert_unit(run_id: str) -> str:
    """The transient unit that restores the backups of this run."""
    return f"vps-wizard-revert-{run_id}"


def arm_revert_lines(paths: RunPaths, run_id: str, seconds: int) -> Shell:
    """Shell lines, for the apply script, that arm the revert before the reload."""
    return sh(
        "{arm} || fail 'could not arm the lockout guard (systemd-run)'\nlog {armed}\n",
        arm=systemd_run(
            (
                "--quiet",
                f"--unit={revert_unit(run_id)}",
                f"--on-active={int(seconds)}s",
                "--timer-property=AccuracySec=1s",
            ),
            ("/bin/sh", paths.restore),
        ),
        armed=f"lockout guard armed: the server reverts in {int(seconds)} s unless a new "
        "session confirms",
    )


def confirm_script(paths: RunPaths, run_id: str) -> Shell:
    """Run from the new session: proves sudo works, disarms the revert, records success.

    It takes the run's lock, as the restore does, so a timer firing at the same moment either
    reverts first (and the confirmation says so) or never runs.
    """
    return sh(
        "exec 9>>{lock}; flock 9\n"
        "systemctl stop {timer} 2>/dev/null\n"
        "s=$(cat {status})\n"
        'if [ "$s" != awaiting-confirm ]; then echo "@@NOT-AWAITING $s"; exit 3; fi\n'
        "echo done > {status}.tmp && mv -f {status}.tmp {status}\n"
        "echo @@CONFIRMED\n",
        lock=f"{paths.dir}/lock",
        timer=revert_unit(run_id) + ".timer",
        status=paths.status,
    )


def revert_now_script(paths: RunPaths, run_id: str) -> Shell:
    """Run from the old session when the new one failed: revert at once, not at the timer."""
    return sh(
        "systemctl stop {timer} 2>/dev/null\n/bin/sh {restore}\ncat {status}\n",
        timer=revert_unit(run_id) + ".timer",
        restore=paths.restore,
        status=paths.status,
    )
