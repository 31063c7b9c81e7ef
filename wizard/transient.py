"""The one way the engine starts a transient systemd unit (systemd-run): plain words only.

systemd keeps a transient unit's command line in /run/systemd/transient/ and reads that file
back at every daemon-reload. systemd 252 (Debian 12) writes `$` and `;` there as `\\$` and
`\\;`, which its own parser then keeps as they are: after a daemon-reload between systemd-run
and the start (anyone's: a package's, the user's; the lockout guard waits minutes), the
command is no longer the one given. `sh -c ': > "$2"; exec /bin/sh "$0"'` ran as
`: > "\\$2"\\; exec ...`: other shell code, as root (it created files named `$2;` and `$1` in /
and never ran the apply). So no shell code goes through systemd-run: the unit runs a script
the engine wrote to a file, by its absolute path, and every word is refused unless it is made
of characters the round trip keeps (tests/host/test_transient.py tries them against a real
systemd).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from wizard.shell import Shell, sh

# Letters, digits and the punctuation of paths, unit names and options: systemd writes each
# such word in plain double quotes and reads it back unchanged.
PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:=@+,-]+")


class TransientCommandError(ValueError):
    """A word for systemd-run that a daemon-reload would not give back unchanged (a bug)."""


def systemd_run(options: Sequence[str], command: Sequence[str]) -> Shell:
    """`systemd-run OPTIONS COMMAND`, every word checked to come back whole from systemd."""
    words = [*options, *command]
    refused = [word for word in words if not PLAIN_WORD.fullmatch(word)]
    if refused or not command or not command[0].startswith("/"):
        raise TransientCommandError(
            "systemd-run takes an absolute program and plain words (letters, digits, "
            f"_ . / : = @ + , -) here, not {refused or list(command)!r}: put the code in a "
            "script file and run it by its path"
        )
    return sh("systemd-run {words}", words=words)


def remove_after(path: str, seconds: int) -> Shell:
    """A timer that removes a probe file after `seconds`, in case the check that wrote it
    cannot (a cut link): a safety net, so its own failure is ignored."""
    timer = systemd_run(("--quiet", "--collect", f"--on-active={seconds}"), ("/bin/rm", "-f", path))
    return sh("{timer} >/dev/null 2>&1 || true", timer=timer)
