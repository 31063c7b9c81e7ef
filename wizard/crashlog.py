"""Where a bug's traceback goes: a file in the user's state directory, never the terminal.

The user reads one sentence and the file's path; whoever fixes the bug reads the file. Nothing
secret is in a traceback the wizard writes: passwords live in the one process that needs them.
"""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path

import platformdirs

# Checks run in threads: one traceback at a time, whole.
_WRITING = threading.Lock()


def crash_log_path() -> Path:
    """The crash log in the user's state directory."""
    return platformdirs.user_state_path("vps-wizard") / "crash.log"


def write_crash_log(error: BaseException, what: str = "") -> Path:
    """Append the error's traceback (with what was running) to the crash log; its path."""
    path = crash_log_path()
    heading = time.strftime("%Y-%m-%d %H:%M:%S ") + (f"{what}\n" if what else "")
    with _WRITING:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(heading + "".join(traceback.format_exception(error)))
    return path
