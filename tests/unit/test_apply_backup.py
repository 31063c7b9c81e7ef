"""The apply backs up every file it is about to replace in one cp, under the file's own path:
a regular file with its content and mode, a link as the link it is (even one whose target is
gone), nothing for a file that does not exist yet; a backup that cannot be made stops the
apply before anything is written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from wizard.answers import Answers
from wizard.apply import _backup_lines, restore_script
from wizard.journal import RunPaths
from wizard.plan import FileChange, Plan
from wizard.steps import FileSpec, Step

FAIL = 'fail() { echo "FAIL $1 | $2"; exit 1; }\n'


def changes(*dests: Path) -> tuple[FileChange, ...]:
    return tuple(FileChange(FileSpec("t.j2", str(d)), str(d), b"new\n", None) for d in dests)


def run(tmp_path: Path, *dests: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", FAIL + str(_backup_lines(changes(*dests)))],
        env={"PATH": "/usr/bin:/bin", "B": str(tmp_path / "backup")},
        capture_output=True,
        text=True,
    )


def test_existing_files_and_links_are_copied_under_their_path(tmp_path):
    conf = tmp_path / "etc" / "a" / "site.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("old\n")
    conf.chmod(0o640)
    link = tmp_path / "etc" / "b" / "enabled.conf"
    link.parent.mkdir()
    link.symlink_to("/nowhere/gone.conf")
    absent = tmp_path / "etc" / "a" / "new.conf"
    done = run(tmp_path, conf, link, absent)
    assert done.returncode == 0, done.stdout + done.stderr
    files = tmp_path / "backup" / "files"
    copy = Path(f"{files}{conf}")
    assert copy.read_text() == "old\n" and (copy.stat().st_mode & 0o777) == 0o640
    assert os.readlink(f"{files}{link}") == "/nowhere/gone.conf"
    assert not Path(f"{files}{absent}").exists()
    index = (tmp_path / "backup" / "index").read_text()
    assert index == f"0 {conf}\n1 {link}\n2 {absent}\n"


def test_a_backup_that_fails_stops_the_apply(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("old\n")
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "files").write_text("a file where the folder goes\n")
    failed = run(tmp_path, conf)
    assert failed.returncode == 1
    assert failed.stdout.startswith("FAIL backup of the files about to be replaced failed")


def test_the_rollback_puts_back_what_the_backup_copied(tmp_path):
    """Backed up, replaced, then restore.sh rollback: the old content and the link are back,
    the file that did not exist is gone again."""
    conf = tmp_path / "etc" / "site.conf"
    conf.parent.mkdir()
    conf.write_text("old\n")
    link = tmp_path / "etc" / "enabled.conf"
    link.symlink_to("/nowhere/gone.conf")
    absent = tmp_path / "etc" / "new.conf"
    assert run(tmp_path, conf, link, absent).returncode == 0
    for path in (conf, link, absent):
        path.unlink(missing_ok=True)
        path.write_text("new\n")
    step = Step("s", "S", "help", files=tuple(FileSpec("t.j2", str(p)) for p in (conf, link)))
    plan = Plan(
        step=step,
        answers=Answers("s", {}),
        files=changes(conf, link, absent),
        commands=(),
        missing_packages=(),
        services_to_enable=(),
        packages=step.packages,
    )
    paths = RunPaths("20260101T000000Z-abcdef")
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "cleanup.sh").write_text("true\n")
    text = str(restore_script(plan, paths)).replace(paths.dir, str(journal))
    text = text.replace(paths.backup_dir, str(tmp_path / "backup"))
    subprocess.run(["sh", "-c", text, "restore", "rollback"], check=True)
    assert conf.read_text() == "old\n"
    assert os.readlink(link) == "/nowhere/gone.conf"
    assert not absent.exists()
