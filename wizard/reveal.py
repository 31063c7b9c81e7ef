"""Files a step makes on the server that the user must keep (a backup repository's password),
read once after the apply that made them: the server marks each as shown in the same command,
so no later run shows it again. The value goes to the front end's screen and nowhere else: not
the local state, not a log, not a report."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field

from wizard.facts import STATE_DIR
from wizard.shell import Shell, script, sh
from wizard.steps import Reveal

# The marks: one empty file per path shown, named by the path's SHA-256.
SHOWN_DIR = f"{STATE_DIR}/shown"
# A secret to store is a line or a key, not a document: what is larger is not shown.
MAX_BYTES = 16384


@dataclass(frozen=True)
class Secret:
    """A value to show the user once. Its repr hides the value, so a traceback or a debug
    print of an event never carries it."""

    label: str
    path: str
    value: str = field(repr=False)


def reveal_script(reveals: Sequence[Reveal], shown_dir: str = SHOWN_DIR) -> Shell:
    """For each path not shown yet: `INDEX BASE64` of its content (at most MAX_BYTES), then
    its mark in `shown_dir`, in one command. A missing file is skipped and stays unmarked."""
    lines = [sh("umask 077; mkdir -p {shown}", shown=shown_dir)]
    for index, reveal in enumerate(reveals):
        lines.append(
            sh(
                """\
p={path}; m={shown}/$(printf %s "$p" | sha256sum | cut -c1-64)
if [ -f "$p" ] && [ ! -e "$m" ] && [ "$(wc -c < "$p")" -le {limit} ]; then
  printf '%s ' {index}; base64 -w0 < "$p"; echo; : > "$m"
fi""",
                path=reveal.path,
                shown=shown_dir,
                limit=MAX_BYTES,
                index=index,
            )
        )
    return script(*lines)


def parse_revealed(reveals: Sequence[Reveal], output: str) -> tuple[Secret, ...]:
    """The secrets the script printed, in the step's order; a line that is not `INDEX
    BASE64` of a known index, or an empty file's, is dropped (server text, never trusted)."""
    found: list[Secret] = []
    for line in output.splitlines():
        index, _, data = line.partition(" ")
        if not index.isdigit() or int(index) >= len(reveals) or not data:
            continue
        try:
            value = base64.b64decode(data, validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            continue
        reveal = reveals[int(index)]
        found.append(Secret(reveal.label, reveal.path, value.rstrip("\n")))
    return tuple(found)
