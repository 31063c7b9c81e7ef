"""One apply at a time per server, and recovery only of runs whose owner is gone.

The lock is a file on the server naming the run that holds it, who started it, from where
and when. It is held while that run is alive:
- started or writing: some process (the staging session, then the detached apply) holds a
  shared flock on the run's owner.lock; a wizard killed mid-way leaves it free;
- awaiting-confirm: the run belongs to its guard's revert timer until a fresh session
  confirms it or the timer reverts it.
A run in a final state, or one whose owner is gone, holds nothing: the next connect's
recovery finishes or undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.errors import WizardError
from wizard.facts import STATE_DIR
from wizard.shell import code

LOCK_FILE = f"{STATE_DIR}/apply.lock"
# Taken briefly (flock) while a wizard reads and writes LOCK_FILE.
MUTEX_FILE = f"{STATE_DIR}/apply.mutex"

# `vw_alive RUN`: exit 0 while the run's owner is there (see the module's docstring).
ALIVE_FUNCTION = code(
    "vw_alive() {\n"
    '  vw_d=/var/lib/vps-wizard/runs/"$1"\n'
    '  case "$(cat "$vw_d/status" 2>/dev/null)" in\n'
    '    started|writing) ! flock -n -x "$vw_d/owner.lock" true ;;\n'
    '    awaiting-confirm) systemctl -q is-active "vps-wizard-revert-$1.timer" ;;\n'
    "    *) return 1 ;;\n"
    "  esac\n"
    "}"
)


@dataclass(frozen=True)
class LockHolder:
    """Who holds the apply lock of a server, as its lock file says, and where its run is."""

    status: str
    run_id: str
    address: str
    user: str
    since: str
    step: str

    @classmethod
    def parse(cls, line: str) -> LockHolder:
        """The run's status and the lock file's lines, joined by '|' on the way here."""
        fields = (line.split("|") + [""] * 6)[:6]
        return cls(*(field.strip() for field in fields))

    @property
    def ends_by_itself(self) -> bool:
        """True while the holder is an apply running on the server (not one waiting for its
        guard's confirmation, which belongs to the wizard that started it)."""
        return self.status in ("started", "writing")


class ApplyBusy(WizardError):
    """Another wizard is applying on this server."""

    holder: LockHolder | None = None

    @classmethod
    def from_lock_line(cls, host: str, line: str) -> ApplyBusy:
        """The error for the lock file's content (empty when the lock could not be read)."""
        if not line.strip():
            return cls(
                f"another wizard is working on {host} right now (its lock is held)",
                "Wait a moment and run the command again.",
            )
        holder = LockHolder.parse(line)
        where = (
            "waits for its confirmation from a new SSH session"
            if holder.status == "awaiting-confirm"
            else "is running"
        )
        busy = cls(
            f"another wizard is applying on {host}: step {holder.step} (run {holder.run_id}) "
            f"{where}, started {holder.since} by {holder.user} from "
            f"{holder.address or 'an unknown address'}",
            "Wait for it to finish, then run the command again. If that wizard was stopped, "
            "its guard's timer puts the previous files back by itself.",
        )
        busy.holder = holder
        return busy
