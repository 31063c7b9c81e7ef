"""Text from the engine on the screen: control characters visible, markup inert.

Much of what the screens show comes from the server (file contents in the diffs, os-release,
the step messages of the server's state, apply output, check evidence, error messages that
quote a command's output). Two rules hold for all of it:

* It goes on screen as a rich `Text` built by `shown`, never as a string a widget would parse:
  `[bold]` or `[link=...]` in server text shows as typed. Control characters are shown as the
  escapes of `wizard.visible` (`\\x1b`, `\\u202e`), in reverse video so they stand out.
* Whatever a widget lets through anyway, `NoControlCharacters` drops before the terminal gets
  it: the app installs it as a line filter, which Textual applies to every line of every
  widget. It is the guarantee; `shown` is what makes the oddity readable.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.color import Color
from textual.filter import LineFilter

from wizard.visible import HIDDEN, HIDDEN_RANGES, escape, visible

ESCAPE_STYLE = "reverse"
"""How a made-visible control character stands out from text that reads the same."""

_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>!|~&:])")

# Dropped, or replaced by a character of the same width. Lone surrogates count as one cell;
# they are most of the ranges, and measuring each one cost the first screen 7 ms.
_SURROGATES = range(0xD800, 0xDFFF + 1)
_DROP: dict[int, str | None] = {
    code: "\ufffd" if code in _SURROGATES or cell_len(chr(code)) else None
    for first, last in HIDDEN_RANGES
    for code in range(first, last + 1)
}


def shown(text: str, style: str = "") -> Text:
    """Engine or server text as screen text: never parsed as markup, control characters shown."""
    result = Text(style=style)
    position = 0
    for match in HIDDEN.finditer(text):
        result.append(text[position : match.start()])
        result.append(escape(ord(match.group())), style=ESCAPE_STYLE)
        position = match.end()
    result.append(text[position:])
    return result


def markdown_inline(text: str) -> str:
    """Server text to put after other text in a Markdown paragraph: read as what it says.

    Lines are joined (a line of its own could start a heading, a list or a table), and the
    characters that open inline syntax are backslash-escaped: links, images, HTML, emphasis,
    code, character references (`&#x1b;` would become an ESC) and bare `http://` links.
    Everything else stays as it is, so the Markdown source reads like the text.
    """
    return _MARKDOWN_INLINE.sub(r"\\\1", " ".join(visible(text).splitlines()))


class NoControlCharacters(LineFilter):
    """Drops every control character from what the widgets rendered, before the terminal.

    They take no cell (Rich counts them as zero wide; a lone surrogate, one cell, becomes
    U+FFFD), so the lines keep their layout. Control segments (cursor moves Textual itself
    makes) are left alone.
    """

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        """The segments, without control characters in their text."""
        return [
            Segment(segment.text.translate(_DROP), segment.style, segment.control)
            if segment.control is None and HIDDEN.search(segment.text)
            else segment
            for segment in segments
        ]
