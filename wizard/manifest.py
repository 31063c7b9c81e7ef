"""The server's manifest of the files the wizard wrote (their SHA-256, in STATE_DIR), and what
this machine's record keeps of them: how drift is seen and "verified" is backed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from wizard.facts import MANIFEST, STATE_DIR
from wizard.plan import FileChange
from wizard.shell import Shell, sh

SECRET_DIGEST = "(secret file: not recorded)"


def file_digests(changes: Iterable[FileChange]) -> dict[str, str]:
    """What the local state records of a step's files: their SHA-256, except for secret files,
    whose digest would let a dictionary attack find a weak password they hold."""
    return {
        c.dest: SECRET_DIGEST if c.spec.secret else hashlib.sha256(c.new).hexdigest()
        for c in changes
    }


def lines_of(paths: Iterable[str]) -> str:
    """An extended regular expression matching the manifest's lines of these paths."""
    return "  (" + "|".join(path_regex(path) for path in sorted(set(paths))) + ")$"


def path_regex(path: str) -> str:
    """The path with every character a regular expression reads escaped."""
    return "".join("\\" + ch if ch in ".[]()*+?{}|^$\\" else ch for ch in path)


def manifest_script(paths: Iterable[str]) -> Shell:
    """Record the SHA-256 of these files in the server's manifest (replacing their lines), one
    sha256sum for them all; the manifest is replaced only once every digest is written."""
    paths = sorted(set(paths))
    return sh(
        "mkdir -p {state}; touch {m}\n"
        "grep -v -E {pattern} {m} > {m}.tmp\n"
        'for f in {paths}; do [ -f "$f" ] && printf "%s\\n" "$f"; done | '
        "xargs -r -d '\\n' sha256sum >> {m}.tmp && mv -f {m}.tmp {m}",
        state=STATE_DIR,
        m=MANIFEST,
        pattern=lines_of(paths),
        paths=paths,
    )
