"""Where a run keeps its records on the server, and what its status words mean."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from wizard.facts import STATE_DIR
from wizard.runstatus import FINAL as FINAL  # the status words: wizard.runstatus

BACKUP_DIR = "/var/backups/vps-wizard"


def new_run_id() -> str:
    """A sortable, unique run id: UTC time to the millisecond plus randomness.

    The milliseconds keep two runs started in the same second in the order they started:
    the newest run is the last one listed.
    """
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}"
    return f"{stamp}Z-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunPaths:
    """The files of one run on the server."""

    run_id: str

    @property
    def dir(self) -> str:
        """The run's journal folder."""
        return f"{STATE_DIR}/runs/{self.run_id}"

    @property
    def backup_dir(self) -> str:
        """Where the replaced files are kept, with their mode and owner."""
        return f"{BACKUP_DIR}/{self.run_id}"

    @property
    def status(self) -> str:
        """One word: where the run is."""
        return f"{self.dir}/status"

    @property
    def log(self) -> str:
        """What the run printed."""
        return f"{self.dir}/log"

    @property
    def apply(self) -> str:
        """The detached script that validates, renames, reloads."""
        return f"{self.dir}/apply.sh"

    @property
    def running(self) -> str:
        """The PID of the apply's unit, written by apply.sh's first line: the unit ran."""
        return f"{self.dir}/running"

    @property
    def restore(self) -> str:
        """The script that puts every file back and reloads."""
        return f"{self.dir}/restore.sh"

    @property
    def cleanup(self) -> str:
        """The script that removes the run's temporary files."""
        return f"{self.dir}/cleanup.sh"

    @property
    def step_file(self) -> str:
        """The id of the step this run applied."""
        return f"{self.dir}/step"
