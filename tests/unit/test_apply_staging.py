"""The staging writes every new file under its staged name with one tar from the script's
here-document: the exact bytes (any bytes, long names), mode 0600, the time of the write, and
a link already at a staged name replaced, never written through."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from wizard.apply import STAGED_SUFFIX, _staged_archive
from wizard.plan import FileChange
from wizard.steps import FileSpec


def test_the_staged_files_are_written_whole_by_one_tar(tmp_path):
    folder = tmp_path / ("a-folder-with-a-long-name-" * 5)
    folder.mkdir()
    contents = {folder / "one.conf": b"one\n", folder / "two.bin": bytes(range(256)) * 40}
    changes = tuple(
        FileChange(FileSpec("t.j2", str(path)), str(path), data, None)
        for path, data in contents.items()
    )
    target = tmp_path / "elsewhere"
    target.write_text("not to be touched\n")
    (folder / f"two.bin{STAGED_SUFFIX}RUN").symlink_to(target)
    started = time.time()
    subprocess.run(
        ["tar", "-C", "/", "--touch", "-xf", "-"], input=_staged_archive(changes, "RUN"), check=True
    )
    for path, data in contents.items():
        staged = Path(f"{path}{STAGED_SUFFIX}RUN")
        assert not staged.is_symlink() and staged.read_bytes() == data
        assert (staged.stat().st_mode & 0o777) == 0o600
        assert staged.stat().st_mtime >= started - 1
    assert target.read_text() == "not to be touched\n"
    assert not os.path.exists(f"{folder}/one.conf")
