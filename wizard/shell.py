"""Shell code built from parts that carry their quoting: the one way a value reaches a command.

A `Shell` is text the engine vouches for as shell code: literal code written in this
repository (`code`), values quoted here (`quote`), or a literal template whose every
placeholder became a quoted value (`sh`). `Remote.run` and `Remote.run_script` take only
`Shell`, so an f-string or a concatenation of data cannot reach the server: the type checker
refuses a `str` there, `Shell + str` raises, and tests/unit/test_shell_rules.py refuses a
template or a code literal that is not a plain string in the source.

Quoting is only safe where the shell reads a word: a quoted value inside '...' or "..." (or a
here-document, ${...}, $((...))) would come out of its quotes. Every template is therefore
scanned once its values are marked, and a value placed anywhere but in a plain word is refused
with the template's text (ShellContextError), before anything is sent.
"""

from __future__ import annotations

import base64
import re
import secrets
import shlex
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, LiteralString

__all__ = [
    "Shell",
    "ShellContextError",
    "code",
    "heredoc",
    "join",
    "quote",
    "script",
    "sh",
    "substitute",
]


class ShellContextError(ValueError):
    """A value would land inside quotes (or another place quoting does not protect)."""


class Shell(str):
    """Shell code with every data part quoted. Adding a plain str to it is refused."""

    __slots__ = ()

    def __add__(self, other: object) -> Shell:
        if not isinstance(other, Shell):
            raise TypeError("only Shell can be added to Shell: quote the value with sh()")
        return Shell(str.__add__(self, other))

    def __radd__(self, other: object) -> Shell:
        if not isinstance(other, Shell):
            raise TypeError("only Shell can be added to Shell: quote the value with sh()")
        return Shell(str.__add__(other, self))


def quote(value: object) -> Shell:
    """One shell word standing for the value: text, a number, or a list (one word per item)."""
    if isinstance(value, Shell):
        return value
    if isinstance(value, bool):
        raise TypeError("a yes/no value has no shell spelling: choose the words in the template")
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else value
        return Shell(" ".join(quote(item) for item in items))
    if value is None:
        raise TypeError("None has no shell spelling: render an empty string explicitly")
    return Shell(shlex.quote(str(value)))


def code(text: LiteralString) -> Shell:
    """Literal shell code from this repository (no data in it), checked to be balanced."""
    scan_contexts(text, {})
    return Shell(text)


class _Formatter(string.Formatter):
    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.values: list[Shell] = []
        self.kinds: list[bool] = []  # True: data (context-checked); False: Shell code

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec:
            raise ValueError("sh() placeholders take no format spec: format the value first")
        self.values.append(quote(value))
        # A number is safe anywhere; text is checked to stand in a plain word.
        self.kinds.append(not isinstance(value, Shell | int))
        return f"\x00{self.nonce}:{len(self.values) - 1}\x00"


def sh(template: LiteralString, /, *args: object, **values: object) -> Shell:
    """The template (a literal in the source) with each `{name}` replaced by its quoted value.

    A value that is itself `Shell` is inserted as the code it is. Lists become one word per
    item. A data value inside quotes, ${...}, $((...)) or a here-document is refused.
    """
    formatter = _Formatter(secrets.token_hex(4))
    marked = formatter.vformat(template, args, values)
    return substitute(marked, formatter.nonce, formatter.values, formatter.kinds)


_MARK = re.compile("\x00([0-9a-f]{8}):([0-9]+)\x00")


def substitute(
    marked: str, nonce: str, values: Sequence[Shell], data: Sequence[bool] | None = None
) -> Shell:
    """Check where each marked value stands, then put the values in (used by sh and Jinja)."""
    kinds = list(data) if data is not None else [True] * len(values)
    checked = {index for index, is_data in enumerate(kinds) if is_data}
    scan_contexts(marked, {nonce: checked})

    def put(match: re.Match[str]) -> str:
        if match.group(1) != nonce:
            raise ShellContextError("a value marker from another template: this is a bug")
        return values[int(match.group(2))]

    return Shell(_MARK.sub(put, marked))


def join(parts: Iterable[Shell], separator: LiteralString = "\n") -> Shell:
    """Shell parts joined (by newlines unless told), each already Shell."""
    items = list(parts)
    for part in items:
        if not isinstance(part, Shell):
            raise TypeError("join() takes Shell parts only: build each with sh() or code()")
    return Shell(separator.join(items))


def script(*parts: Shell) -> Shell:
    """Lines of a script, each Shell, ending with a newline."""
    return join(parts) + Shell("\n")


def heredoc(command: Shell, content: bytes) -> Shell:
    """`command` reading `content` (any bytes) from a here-document, base64-encoded.

    The command must decode it (`base64 -d > file`): base64 has no character a shell or the
    here-document's end line could take for code.
    """
    encoded = base64.encodebytes(content).decode()
    tag = "VW_DATA_" + secrets.token_hex(6).upper()
    return Shell(f"{command} <<'{tag}'\n{encoded}{tag}")


# ----------------------------------------------------------------------------- context scan
_WORD_START = " \t\n;&|()<>"


def scan_contexts(text: str, checked: Mapping[str, set[int]]) -> None:
    """Walk POSIX shell quoting; raise when a checked value marker is anywhere but in a word.

    Knows '...', "...", backslashes, $(...), `...`, ${...}, $((...)), comments and
    here-documents: enough for the engine's and the steps' commands, which use no more.
    """
    stack: list[str] = ["code"]
    heredocs: list[tuple[str, bool]] = []
    index = 0
    length = len(text)

    def refuse(where: str) -> None:
        shown = _MARK.sub("{value}", text)
        raise ShellContextError(
            f"a value would stand {where} in: {shown.strip()[:300]} -- put the placeholder "
            "outside quotes: the engine quotes it"
        )

    while index < length:
        char = text[index]
        top = stack[-1]
        if char == "\x00":
            match = _MARK.match(text, index)
            if match is None:
                raise ShellContextError("a NUL byte in shell code")
            nonce, number = match.group(1), int(match.group(2))
            if number in checked.get(nonce, ()) and top not in ("code", "sub", "paren", "bt"):
                refuse(
                    {"dq": "inside double quotes", "param": "inside ${...}"}.get(
                        top, "inside $((...))"
                    )
                )
            index = match.end()
            continue
        if top == "dq":
            if char == "\\":
                index += 2
                continue
            if char == '"':
                stack.pop()
                index += 1
                continue
            index = _open_expansion(text, index, stack)
            continue
        if top == "param":
            if char == "}":
                stack.pop()
            index += 1
            continue
        if top == "arith":
            if text.startswith("))", index):
                stack.pop()
                index += 2
            else:
                index += 1
            continue
        # code, sub (inside $(...)), paren (a subshell or group) and bt (inside `...`)
        if char == "\\":
            index += 2
            continue
        if char == "'":
            end = text.find("'", index + 1)
            if end < 0:
                raise ShellContextError(f"an unterminated '...' in: {text.strip()[:300]}")
            if _has_checked_mark(text[index:end], checked):
                refuse("inside single quotes")
            index = end + 1
            continue
        if char == '"':
            stack.append("dq")
            index += 1
            continue
        if char == "`":
            if top == "bt":
                stack.pop()
            else:
                stack.append("bt")
            index += 1
            continue
        if char == "(":
            stack.append("paren")
            index += 1
            continue
        if char == ")":
            if top in ("sub", "paren"):
                stack.pop()
            index += 1
            continue
        if char == "#" and (index == 0 or text[index - 1] in _WORD_START):
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        if text.startswith("<<", index) and not text.startswith("<<<", index):
            index = _read_heredoc_start(text, index + 2, heredocs)
            continue
        if char == "\n" and heredocs:
            index = _skip_heredoc_bodies(text, index + 1, heredocs, checked, refuse)
            heredocs.clear()
            continue
        if char == "$":
            index = _open_expansion(text, index, stack)
            continue
        index += 1
    if heredocs:
        raise ShellContextError(f"a here-document without its body in: {text.strip()[:300]}")
    if stack != ["code"]:
        raise ShellContextError(
            f"unbalanced quotes or parentheses ({stack[-1]}) in: {text.strip()[:300]}"
        )


def _open_expansion(text: str, index: int, stack: list[str]) -> int:
    """At `$` or a backquote: push what it opens and return where to go on."""
    if text.startswith("$((", index):
        stack.append("arith")
        return index + 3
    if text.startswith("$(", index):
        stack.append("sub")
        return index + 2
    if text.startswith("${", index):
        stack.append("param")
        return index + 2
    if text[index] == "`":
        stack.append("bt")
    return index + 1


def _has_checked_mark(segment: str, checked: Mapping[str, set[int]]) -> bool:
    return any(
        int(match.group(2)) in checked.get(match.group(1), ()) for match in _MARK.finditer(segment)
    )


_HEREDOC_WORD = re.compile(r"-?[ \t]*(['\"]?)([A-Za-z0-9_]+)\1")


def _read_heredoc_start(text: str, index: int, heredocs: list[tuple[str, bool]]) -> int:
    match = _HEREDOC_WORD.match(text, index)
    if match is None:
        raise ShellContextError(f"a here-document whose end word is not plain in: {text[:300]}")
    heredocs.append((match.group(2), text[index] == "-"))
    return match.end()


def _skip_heredoc_bodies(text, index, heredocs, checked, refuse) -> int:  # type: ignore[no-untyped-def]
    for word, strip_tabs in heredocs:
        while True:
            end = text.find("\n", index)
            line = text[index : (len(text) if end < 0 else end)]
            if (line.lstrip("\t") if strip_tabs else line) == word:
                index = len(text) if end < 0 else end + 1
                break
            if _has_checked_mark(line, checked):
                refuse("inside a here-document")
            if end < 0:
                raise ShellContextError(f"a here-document without its end line '{word}'")
            index = end + 1
    return index
