"""Files as they are on the server: read many in one script, framed so any content survives.

What is at a destination may be anything: a regular file (small, huge, binary), a directory, a
symbolic link (to /etc/shadow, say), a fifo. The probe says which, with the size and SHA-256 of
a regular file, and sends the content only of regular files up to CONTENT_LIMIT: a larger file
is compared by its digest, never downloaded. A link is never followed: its target's content is
not the destination's and may be a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from wizard.shell import Shell, join, sh

# Regular files up to this size are sent whole (and diffed); larger ones only by digest.
CONTENT_LIMIT = 1024 * 1024

FileKind = Literal["file", "directory", "symlink", "other"]


@dataclass(frozen=True)
class RemoteFile:
    """What is at a path on the server (a missing path has no RemoteFile).

    `content` is the whole content of a regular file up to CONTENT_LIMIT, None for a larger
    one and for anything that is not a regular file. `size` and `sha256` are those of a
    regular file's content (computed here when the content came along).
    """

    path: str
    content: bytes | None
    mode: str
    owner: str
    group: str
    kind: FileKind = "file"
    size: int = -1
    sha256: str = ""
    # A symbolic link's target, as readlink prints it; what kind of thing "other" is.
    link_target: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.content is not None:
            object.__setattr__(self, "size", len(self.content))
            object.__setattr__(self, "sha256", hashlib.sha256(self.content).hexdigest())

    @property
    def is_text(self) -> bool:
        """True for a regular file whose content came along and reads as UTF-8 without NUL."""
        if self.content is None or b"\x00" in self.content:
            return False
        try:
            self.content.decode()
        except UnicodeDecodeError:
            return False
        return True

    def describe(self) -> str:
        """What is there, in words, for a plan or an error ("a directory", "a symbolic link
        to /etc/shadow", "a binary file, 104857600 bytes, sha256 ...")."""
        if self.kind == "directory":
            return "a directory"
        if self.kind == "symlink":
            return f"a symbolic link to {shown(self.link_target)}"
        if self.kind == "other":
            return f"a {shown(self.detail) or 'special file'}"
        if self.content is None:
            what = "a large file"
        else:
            what = "a file" if self.is_text else "a binary file"
        return f"{what}, {self.size} bytes, sha256 {self.sha256}"


def shown(text: str) -> str:
    """Server text made safe for a message: control characters as visible escapes."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode() for ch in text
    )


def read_files_script(paths: Sequence[str], unread: Collection[str] = ()) -> Shell:
    """Shell lines that describe each path, one framed section each.

    `@@MISSING i`, `@@DIR i`, `@@LINK i <target, base64>`, `@@OTHER i <kind>`, or
    `@@FILE i <mode> <owner> <group> <size> <sha256 or ->` followed by one line: the content
    in base64 when the digest is `-` (small enough to send), else empty. The link test comes
    first: `-d` and `-f` follow links. A regular file at a path in `unread` (a secret file the
    server compares itself) is described by its mode, owner and size only: digest `?`.
    """
    return join(
        sh(
            "if [ -L {path} ]; then printf '@@LINK %s ' {index}; readlink -n {path} | base64 -w0;"
            " echo; elif [ -d {path} ]; then echo @@DIR {index};"
            " elif [ -f {path} ]; then echo @@FILE {index} $(stat -c '%a %U %G %s' {path}) '?';"
            " echo; elif [ -e {path} ]; then echo @@OTHER {index} $(stat -c %F {path});"
            " else echo @@MISSING {index}; fi",
            path=path,
            index=index,
        )
        if path in unread
        else sh(
            "if [ -L {path} ]; then printf '@@LINK %s ' {index}; readlink -n {path} | base64 -w0;"
            " echo; elif [ -d {path} ]; then echo @@DIR {index};"
            " elif [ -f {path} ]; then st=$(stat -c '%a %U %G %s' {path});"
            ' if [ "${{st##* }}" -le {limit} ]; then echo @@FILE {index} $st -;'
            " head -c {over} {path} | base64 -w0; echo;"
            " else echo @@FILE {index} $st $(sha256sum < {path} | cut -c 1-64); echo; fi;"
            " elif [ -e {path} ]; then echo @@OTHER {index} $(stat -c %F {path});"
            " else echo @@MISSING {index}; fi",
            path=path,
            index=index,
            limit=CONTENT_LIMIT,
            over=CONTENT_LIMIT + 1,
        )
        for index, path in enumerate(paths)
    ) + Shell("\n")


def parse_read_files(output: str, paths: Sequence[str]) -> dict[str, RemoteFile | None]:
    """Parse what read_files_script printed (one pass over the lines)."""
    files: dict[str, RemoteFile | None] = dict.fromkeys(paths)
    lines = iter(output.splitlines())
    for line in lines:
        tag, _, rest = line.partition(" ")
        if tag not in ("@@FILE", "@@DIR", "@@LINK", "@@OTHER"):
            continue
        index_text, _, rest = rest.partition(" ")
        path = paths[int(index_text)]
        if tag == "@@FILE":
            files[path] = _regular(path, rest, next(lines, ""))
        elif tag == "@@DIR":
            files[path] = RemoteFile(path, None, "", "", "", kind="directory")
        elif tag == "@@LINK":
            target = _decode(rest).decode(errors="replace")
            files[path] = RemoteFile(path, None, "", "", "", kind="symlink", link_target=target)
        else:
            files[path] = RemoteFile(path, None, "", "", "", kind="other", detail=rest.strip())
    return files


def _regular(path: str, header: str, body: str) -> RemoteFile:
    mode, owner, group, size, digest = header.split()
    if digest == "-":
        content = _decode(body)
        if len(content) <= CONTENT_LIMIT:
            return RemoteFile(path, content, mode.zfill(4), owner, group)
        # The file grew past the limit between stat and read: no digest of it was taken,
        # and a digest of a prefix would say "unchanged" wrongly. Nothing matches "?".
        digest, size = "?", str(len(content))
    return RemoteFile(path, None, mode.zfill(4), owner, group, size=int(size), sha256=digest)


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        return b""
