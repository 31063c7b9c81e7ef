"""What is at a destination, read by the probe and shown by the plan: odd files (finding 7).

The probe runs here in a local `sh` against a temporary folder, as it runs on the server.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from wizard.answers import Answers
from wizard.errors import WizardError
from wizard.plan import FileChange, make_plan
from wizard.remote import Result
from wizard.serverfiles import CONTENT_LIMIT, RemoteFile, parse_read_files, read_files_script
from wizard.shell import Shell
from wizard.steps import FileSpec, Step

SECRET = b"root:$y$j9T$notarealhashbutsecret:19000:0:99999:7:::\n"


def probe(*paths: Path) -> dict[str, RemoteFile | None]:
    """Run the probe on local paths with sh, as the server would, and parse what it printed."""
    names = [str(p) for p in paths]
    output = subprocess.run(
        ["sh", "-c", read_files_script(names)], capture_output=True, text=True, check=True
    ).stdout
    return parse_read_files(output, names)


@pytest.fixture
def shadow(tmp_path: Path) -> Path:
    path = tmp_path / "shadow"
    path.write_bytes(SECRET)
    return path


def test_a_small_text_file_comes_whole_with_its_attributes(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"127.0.0.1 localhost\n")
    path.chmod(0o640)
    found = probe(path)[str(path)]
    assert found is not None
    assert (found.kind, found.content, found.mode, found.size) == (
        "file",
        b"127.0.0.1 localhost\n",
        "0640",
        20,
    )
    assert found.is_text


def test_missing_empty_and_oddly_named_paths(tmp_path: Path) -> None:
    empty = tmp_path / "empty file"
    empty.write_bytes(b"")
    odd = tmp_path / "it's $(x) `y`"
    odd.write_bytes(b"ok\n")
    found = probe(tmp_path / "absent", empty, odd)
    assert found[str(tmp_path / "absent")] is None
    assert found[str(empty)].content == b""  # type: ignore[union-attr]
    assert found[str(odd)].content == b"ok\n"  # type: ignore[union-attr]


def test_a_symlink_is_described_never_followed(tmp_path: Path, shadow: Path) -> None:
    link = tmp_path / "hosts"
    link.symlink_to(shadow)
    found = probe(link)[str(link)]
    assert found is not None
    assert (found.kind, found.link_target, found.content) == ("symlink", str(shadow), None)


def test_directory_fifo_and_dangling_link(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere\nline")
    found = probe(folder, fifo, dangling)
    assert found[str(folder)].kind == "directory"  # type: ignore[union-attr]
    assert found[str(fifo)].kind == "other"  # type: ignore[union-attr]
    assert "fifo" in found[str(fifo)].describe()  # type: ignore[union-attr]
    link = found[str(dangling)]
    assert link is not None and link.link_target == str(tmp_path / "nowhere\nline")
    assert "\n" not in link.describe() and "\\n" in link.describe()


def test_a_large_file_is_compared_by_digest_quickly(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # 100 MB of zeros, sparse
    started = time.monotonic()
    output = subprocess.run(
        ["sh", "-c", read_files_script([str(big)])], capture_output=True, text=True, check=True
    ).stdout
    found = parse_read_files(output, [str(big)])[str(big)]
    assert time.monotonic() - started < 10
    assert len(output) < 1000  # the content (100 MB) never travels: its name and digest do
    assert found is not None and found.content is None
    assert found.size == 100 * 1024 * 1024
    assert found.sha256 == "20492a4d0d84f8beb1767f6616229f85d44c2827b64bdbfb260ee12fa1109e0e"


def test_a_file_at_the_limit_comes_whole_one_byte_more_does_not(tmp_path: Path) -> None:
    at = tmp_path / "at"
    at.write_bytes(b"a" * CONTENT_LIMIT)
    over = tmp_path / "over"
    over.write_bytes(b"a" * (CONTENT_LIMIT + 1))
    found = probe(at, over)
    assert found[str(at)].content == b"a" * CONTENT_LIMIT  # type: ignore[union-attr]
    assert found[str(over)].content is None  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- the plan's view
SPEC = FileSpec("hosts.j2", "/etc/hosts")
NEW = b"127.0.0.1 localhost\n192.0.2.1 vps.example.org vps\n"


def change(old: RemoteFile | None, new: bytes = NEW) -> FileChange:
    return FileChange(SPEC, "/etc/hosts", new, old)


def test_symlink_diff_shows_the_link_not_its_target(tmp_path: Path, shadow: Path) -> None:
    link = tmp_path / "hosts"
    link.symlink_to(shadow)
    planned = change(probe(link)[str(link)])
    diff = planned.diff()
    assert planned.status == "update"
    assert f"a symbolic link to {shadow}; it will be replaced by a regular file" in diff
    assert "notarealhash" not in diff and "notarealhash" not in planned.old_text()
    assert "+192.0.2.1 vps.example.org vps" in diff


def test_a_link_to_identical_content_is_still_replaced(tmp_path: Path) -> None:
    target = tmp_path / "same"
    target.write_bytes(NEW)
    link = tmp_path / "hosts"
    link.symlink_to(target)
    assert change(probe(link)[str(link)]).status == "update"


def test_a_binary_file_is_summarised_not_diffed(tmp_path: Path) -> None:
    binary = tmp_path / "hosts"
    binary.write_bytes(b"\x1b]0;pwned\x07\x00\xff\xfe" * 1000)
    planned = change(probe(binary)[str(binary)])
    diff = planned.diff()
    assert "a binary file, 13000 bytes, sha256 " in diff and "will be replaced" in diff
    assert "\x1b" not in diff and "\x00" not in diff
    assert "\x1b" not in planned.old_text()


def test_a_large_file_is_summarised_and_compared_by_hash(tmp_path: Path) -> None:
    big = tmp_path / "hosts"
    big.write_bytes(os.urandom(2 * CONTENT_LIMIT))
    found = probe(big)[str(big)]
    planned = change(found)
    diff = planned.diff()
    assert planned.status == "update"
    assert f"a large file, {2 * CONTENT_LIMIT} bytes, sha256 {found.sha256}" in diff  # type: ignore[union-attr]
    assert len(diff) < 1000
    # The same large content on both sides: unchanged, by digest.
    same = change(found, big.read_bytes())
    assert same.status == "unchanged"
    assert same.diff() == ""


def test_an_unchanged_text_file_has_no_diff(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(NEW)
    path.chmod(0o644)
    planned = change(probe(path)[str(path)])
    assert planned.status == "unchanged"
    assert planned.diff() == ""


# ----------------------------------------------------------------------------- refused plans
class LocalRemote:
    """Runs the plan's probe in a local sh, like the server would."""

    def run_script(self, script: Shell) -> Result:
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
        return Result(done.returncode, done.stdout, done.stderr)


def odd_step(tmp_path: Path, dest: Path) -> Step:
    (tmp_path / "file.j2").write_text("managed\n")
    return Step(
        "odd", "Odd", "help", files=(FileSpec("file.j2", str(dest)),), source_dir=str(tmp_path)
    )


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_directory_or_fifo_at_a_destination_is_refused(tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "odd.conf"
    if kind == "directory":
        dest.mkdir()
        (dest / "keep").write_text("kept\n")
    else:
        os.mkfifo(dest)
    step = odd_step(tmp_path, dest)
    with pytest.raises(WizardError) as refused:
        make_plan(LocalRemote(), step, Answers("odd", {}), {"answers": {}})  # type: ignore[arg-type]
    assert f"{dest}" in refused.value.message and kind in refused.value.message
    assert "Nothing was changed" in refused.value.message
    assert "mv " in refused.value.hint
    assert dest.exists() and (kind != "directory" or (dest / "keep").read_text() == "kept\n")


def test_a_regular_destination_plans(tmp_path: Path) -> None:
    dest = tmp_path / "odd.conf"
    dest.write_text("old\n")
    step = odd_step(tmp_path, dest)
    plan = make_plan(LocalRemote(), step, Answers("odd", {}), {"answers": {}})  # type: ignore[arg-type]
    assert [f.status for f in plan.files] == ["update"]
    assert "-old\n+managed\n" in plan.files[0].diff()


def test_a_secret_file_shows_neither_content_nor_digest(tmp_path: Path, shadow: Path) -> None:
    secret = FileChange(FileSpec("s.j2", "/etc/s", secret=True), "/etc/s", b"\x00" + SECRET, None)
    diff = secret.diff()
    assert "content hidden" in diff
    assert "sha256" not in diff and "notarealhash" not in diff


def test_many_files_and_hard_links_come_whole_in_a_few_processes(tmp_path: Path) -> None:
    """Fifty files (two of them one inode, which tar would store once) each come with their
    own content; the script starts the same few processes whatever the number of files."""
    paths = []
    for index in range(50):
        path = tmp_path / f"f{index:02d}.conf"
        path.write_bytes(f"file {index}\n".encode())
        paths.append(path)
    os.link(paths[0], tmp_path / "hard-link.conf")
    paths.append(tmp_path / "hard-link.conf")
    found = probe(*paths)
    for index in range(50):
        assert found[str(paths[index])].content == f"file {index}\n".encode()  # type: ignore[union-attr]
    assert found[str(tmp_path / "hard-link.conf")].content == b"file 0\n"  # type: ignore[union-attr]
    # No line a file: the script for fifty-one files is as long, in lines, as for one.
    script = str(read_files_script([str(p) for p in paths]))
    assert len(script.splitlines()) == len(read_files_script([str(paths[0])]).splitlines())


def test_a_secret_file_is_described_without_content_or_digest(tmp_path: Path, shadow: Path) -> None:
    names = [str(shadow)]
    output = subprocess.run(
        ["sh", "-c", read_files_script(names, unread=names)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "notarealhash" not in output
    found = parse_read_files(output, names)[str(shadow)]
    assert found is not None
    assert (found.content, found.sha256, found.size) == (None, "?", len(SECRET))
