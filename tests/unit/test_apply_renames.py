"""The apply renames every staged file onto its destination in one process: each file is the
new one afterwards, and a rename that fails puts every file back (the old content, a created
file gone again), the run rolled back, naming the file it could not move. Run through a real
`sh` (and perl, as on the server) in a temporary folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from wizard.answers import Answers
from wizard.apply import STAGED_SUFFIX, apply_script, cleanup_script, restore_script
from wizard.facts import MANIFEST, STATE_DIR
from wizard.journal import RunPaths
from wizard.plan import FileChange, Plan
from wizard.serverfiles import RemoteFile
from wizard.steps import FileSpec, Step

RUN = "20261207T000000000Z-abcdef"


def apply(tmp_path: Path, files: dict[Path, bytes | None], lose: Path | None = None):
    """Stage the files' new content, then run the apply of a step writing them; `lose` has
    its staged file gone once its mode is set (chmod, the last step before the renames), so
    its rename fails."""
    changes = tuple(
        FileChange(
            FileSpec("t.j2", str(dest)),
            str(dest),
            b"new " + dest.name.encode(),
            None if old is None else RemoteFile(str(dest), old, "0644", "root", "root"),
        )
        for dest, old in files.items()
    )
    step = Step("s", "S", "help", files=tuple(c.spec for c in changes))
    plan = Plan(step, Answers("s", {}), changes, (), (), (), ())
    for change in changes:
        Path(change.dest + STAGED_SUFFIX + RUN).write_bytes(change.new)
    paths = RunPaths(RUN)
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "status").write_text("started\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    if lose is not None:
        gone = str(lose) + STAGED_SUFFIX + RUN
        (bin_dir / "chmod").write_text(f'#!/bin/sh\n/bin/chmod "$@" && rm -f {gone}\n')
    for fake in bin_dir.iterdir():
        fake.chmod(0o755)

    def here(text: object) -> str:
        return (
            str(text)
            .replace(paths.dir, str(journal))
            .replace(paths.backup_dir, str(tmp_path / "backup"))
            .replace(MANIFEST, str(tmp_path / "manifest"))
            .replace(STATE_DIR, str(tmp_path / "state"))
        )

    (journal / "cleanup.sh").write_text(here(cleanup_script(plan, paths)))
    (journal / "restore.sh").write_text(here(restore_script(plan, paths)))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", "-c", here(apply_script(plan, paths, 60))],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done, (journal / "status").read_text().strip()


def test_every_staged_file_is_renamed_onto_its_destination(tmp_path):
    old = tmp_path / "old.conf"
    old.write_text("old\n")
    created = [tmp_path / f"new-{n}.conf" for n in range(3)]
    done, status = apply(tmp_path, {old: b"old\n", **dict.fromkeys(created)})
    assert status == "done", done.stdout + done.stderr
    assert "@@LOG wrote 4 file(s)" in done.stdout
    for path in (old, *created):
        assert path.read_bytes() == b"new " + path.name.encode()
    assert not list(tmp_path.glob("*" + STAGED_SUFFIX + "*"))


def test_a_rename_that_fails_puts_every_file_back_and_names_it(tmp_path):
    old = tmp_path / "a-old.conf"
    old.write_text("old\n")
    lost = tmp_path / "b-lost.conf"
    created = tmp_path / "c-new.conf"
    done, status = apply(tmp_path, {old: b"old\n", lost: None, created: None}, lose=lost)
    assert status == "rolled-back", done.stdout + done.stderr
    assert "@@FAIL could not move the new files into place" in done.stdout
    assert f"@@DETAIL could not move {lost}{STAGED_SUFFIX}{RUN} to {lost}" in done.stdout
    # The first was renamed before the second failed: it holds the old content again.
    assert old.read_text() == "old\n"
    assert not lost.exists() and not created.exists()
