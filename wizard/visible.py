"""Text from the server made safe for a terminal: every control character shown as an escape.

A file's content, os-release, command output and the server's state are written by whoever
controls the server. Sent to a terminal as they are, an escape sequence in them retitles the
window (OSC 0), fills the clipboard (OSC 52), moves the cursor or recolours what follows (CSI),
and a bare carriage return or a bidi override makes a line read as something it is not.

The visible form is the one Python, C and printf use: `\\x1b` for a code point up to 0xff and
`\\u202e` above it. It is plain ASCII (any terminal and font shows it), it names the exact code
point (the user can `grep -P '\\x1b'` the file for it), and it covers what caret notation
cannot (`^[` exists only for C0 and DEL; C1 and the bidi controls have no caret form).
Newline and tab are kept: they are how text is laid out, not hidden instructions.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from typing import TextIO

# Inclusive ranges of the code points `visible` replaces.
HIDDEN_RANGES: tuple[tuple[int, int], ...] = (
    (0x00, 0x08),  # C0 before tab: NUL, BEL, backspace...
    (0x0B, 0x1F),  # C0 after newline: VT, FF, CR, ESC...
    (0x7F, 0x9F),  # DEL, and C1 (0x9b is a one-byte CSI, 0x9d a one-byte OSC)
    # Bidi marks, embeddings, overrides and isolates reorder what the eye reads
    # (CVE-2021-42574, "Trojan Source"); line and paragraph separators break a line where no
    # newline is.
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x2028, 0x202E),
    (0x2066, 0x2069),
    # Lone surrogates come from bytes that were not UTF-8 (decoded with surrogateescape):
    # as they are, they cannot even be encoded for the terminal.
    (0xD800, 0xDFFF),
)


def escape(code_point: int) -> str:
    """The visible form of one code point: `\\x1b`, `\\u202e`."""
    return f"\\x{code_point:02x}" if code_point <= 0xFF else f"\\u{code_point:04x}"


_TABLE = {code: escape(code) for first, last in HIDDEN_RANGES for code in range(first, last + 1)}

HIDDEN = re.compile(
    "["
    + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last in HIDDEN_RANGES)
    + "]"
)
"""Matches one character that `visible` replaces."""


def visible(text: str) -> str:
    """The text with every control character, except newline and tab, as a visible escape."""
    return text.translate(_TABLE)


def is_plain(text: str) -> bool:
    """Whether the text holds no character that `visible` would replace."""
    return HIDDEN.search(text) is None


class VisibleWriter(io.TextIOBase):
    """A text stream that writes what it is given through `visible` to another stream.

    It has no `fileno` and no `buffer` on purpose: `input()` then writes its prompt through
    `write` instead of straight to the file descriptor, and nothing can write bytes past it.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        """Write the visible form; report the length given, as a text stream does."""
        self._stream.write(visible(text))
        return len(text)

    def flush(self) -> None:
        """Flush the stream underneath (print(..., flush=True) calls this)."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Whether the stream underneath is a terminal."""
        return self._stream.isatty()

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The encoding of the stream underneath."""
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        """The error handler of the stream underneath."""
        return self._stream.errors


@contextlib.contextmanager
def visible_output() -> Iterator[None]:
    """Route sys.stdout and sys.stderr through `visible` while the block runs."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = VisibleWriter(stdout), VisibleWriter(stderr)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = stdout, stderr
