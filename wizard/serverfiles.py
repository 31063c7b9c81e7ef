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
import io
import tarfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from wizard.shell import Shell, sh

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


# What find's %y letter says of a path that is neither a regular file, a folder nor a link.
_SPECIAL = {
    "p": "fifo",
    "s": "socket",
    "c": "character special file",
    "b": "block special file",
    "D": "door",
}


def read_files_script(paths: Sequence[str], unread: Collection[str] = ()) -> Shell:
    """Shell lines that describe every path in a handful of processes, whatever their number.

    Three lines, each base64 of what it frames (any byte survives):
    `@@META` one `find -printf` of every path, NUL-separated pairs: `TYPE MODE OWNER GROUP
    SIZE PATH` and the target of a link (find describes a link and never follows one); a
    missing path has none. `@@TAR` a tar of the regular files up to CONTENT_LIMIT, their
    content (hard links stored whole). `@@SHA` the SHA-256 of the larger ones (`sha256sum
    -z`). A regular file at a path in `unread` (a secret file the server compares itself) is
    described by its mode, owner and size only: no content, no digest.
    """
    read = [path for path in paths if path not in unread]
    return sh(
        'vw_find() {{ find "$@" -maxdepth 0 2>/dev/null; }}\n'
        "printf '@@META '; vw_find {paths} -printf '%y %m %u %g %s %p\\0%l\\0' | base64 -w0; echo\n"
        # xargs -r: no archive at all when no file is small (an empty one is 10 KB of
        # zeros); -b 1, no padding after the last file. Should xargs split a long list, the
        # archives follow each other and are read as one.
        "printf '@@TAR '; vw_find {read} -type f -size -{over}c -print0 | "
        "xargs -0 -r tar -c -P --no-recursion --hard-dereference -b 1 -f - 2>/dev/null "
        "| base64 -w0; echo\n"
        "printf '@@SHA '; vw_find {read} -type f -size +{limit}c -print0 | "
        "xargs -0 -r sha256sum -z | base64 -w0; echo\n",
        paths=list(paths),
        read=read,
        over=CONTENT_LIMIT + 1,
        limit=CONTENT_LIMIT,
    )


def parse_read_files(output: str, paths: Sequence[str]) -> dict[str, RemoteFile | None]:
    """Parse what read_files_script printed: a path find did not describe is missing."""
    framed = {}
    for line in output.splitlines():
        tag, _, rest = line.partition(" ")
        if tag in ("@@META", "@@TAR", "@@SHA"):
            framed[tag] = _decode(rest)
    contents = _tar_contents(framed.get("@@TAR", b""))
    digests = {}
    for entry in framed.get("@@SHA", b"").split(b"\0"):
        digest, _, name = entry.partition(b"  ")
        if name:
            digests[name.decode(errors="surrogateescape")] = digest.decode()
    files: dict[str, RemoteFile | None] = dict.fromkeys(paths)
    fields = framed.get("@@META", b"").split(b"\0")
    for header, target in zip(fields[0::2], fields[1::2], strict=False):
        parts = header.decode(errors="surrogateescape").split(" ", 5)
        if len(parts) != 6 or parts[5] not in files:
            continue
        kind, mode, owner, group, size, path = parts
        if kind == "f":
            files[path] = _regular(path, mode, owner, group, int(size), contents, digests)
        elif kind == "d":
            files[path] = RemoteFile(path, None, "", "", "", kind="directory")
        elif kind == "l":
            link = target.decode(errors="replace")
            files[path] = RemoteFile(path, None, "", "", "", kind="symlink", link_target=link)
        else:
            detail = _SPECIAL.get(kind, "special file")
            files[path] = RemoteFile(path, None, "", "", "", kind="other", detail=detail)
    return files


def _tar_contents(archive: bytes) -> dict[str, bytes]:
    """The regular files of a tar read in memory, by their absolute names (nothing is
    extracted anywhere: the names and contents are the server's)."""
    contents: dict[str, bytes] = {}
    if not archive:
        return contents
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:", ignore_zeros=True) as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    contents[member.name] = handle.read(CONTENT_LIMIT + 1)
    except tarfile.TarError:
        return contents
    return contents


def _regular(
    path: str,
    mode: str,
    owner: str,
    group: str,
    size: int,
    contents: Mapping[str, bytes],
    digests: Mapping[str, str],
) -> RemoteFile:
    content = contents.get(path)
    if content is not None and len(content) <= CONTENT_LIMIT:
        return RemoteFile(path, content, mode.zfill(4), owner, group)
    # A secret file (never read), or one that changed between find and tar (grew past the
    # limit, vanished): no digest of it was taken, and nothing matches "?".
    digest = digests.get(path, "?")
    return RemoteFile(path, None, mode.zfill(4), owner, group, size=size, sha256=digest)


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        return b""
