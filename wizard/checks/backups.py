"""The backups step's check of the latest backup: it exists, it is recent, and it holds every path
asked (and the database dumps when MariaDB runs on the server).

restic skips a path that does not exist with a warning and still exits 0, and leaves it out of
the snapshot's `paths`: a backup can succeed every night and never hold the web root. So the
snapshot's own list of paths is compared with the answer, not the run's exit code. The
snapshot is read through the step's wrapper (vps-wizard-restic), as the timer runs it: the
pinned host key, the step's SSH key and the password file are the ones under test.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    exit_code,
    fail,
    marker,
    ok,
    run_sections,
    warn,
)
from wizard.checks.params import names_of, safe_path
from wizard.shell import code, script
from wizard.visible import visible

CHECK_ID = "backups.latest"
DUMPS = "/var/backups/vps-wizard-db"
PUBLIC_KEY = "/etc/vps-wizard/backups/id_ed25519.pub"
START_NOW = "sudo systemctl start vps-wizard-backup.service"
# The restrictions the backup host should put on the key: SFTP only, nothing else.
KEY_OPTIONS = 'restrict,command="internal-sftp"'
# What restic says when it cannot read the repository, and what the user should do about it.
REPOSITORY_MISSING = ("unable to open config file", "Is there a repository at the following")
WRONG_PASSWORD = "wrong password or no key found"
KEY_REFUSED = "permission denied (publickey"
HOST_KEY_CHANGED = ("host key verification failed", "remote host identification has changed")
ERROR_LINES = 8

LATEST_SCRIPT = script(
    marker("SNAPSHOTS"),
    code("/usr/local/sbin/vps-wizard-restic snapshots --json --latest 1 --tag vps-wizard 2>&1"),
    code("rc=$?"),
    marker("RC"),
    code('echo "$rc"'),
    marker("MARIADB"),
    code("systemctl is-active mariadb 2>/dev/null"),
    marker("KEY"),
    code("cat /etc/vps-wizard/backups/id_ed25519.pub 2>/dev/null"),
    marker("LASTRUN"),
    code("systemctl show -p Result -p ExecMainStatus vps-wizard-backup.service 2>/dev/null"),
    # restic passes on ssh's own error only now and then (it may exit first): when it failed,
    # ssh alone says why it could not get in, every time.
    marker("SSH"),
    code(
        '[ "$rc" = 0 ] || ssh -F /etc/vps-wizard/backups/ssh_config -o ConnectTimeout=15 '
        "vps-wizard-backup -s sftp </dev/null 2>&1 >/dev/null | tail -n 3"
    ),
    code("true"),
)


@dataclass(frozen=True)
class Snapshot:
    """What the check needs of restic's latest snapshot."""

    short_id: str
    time: datetime
    paths: tuple[str, ...]


def parse_latest(text: str) -> Snapshot | None:
    """The newest snapshot of `restic snapshots --json --latest 1`, None when there is none.

    Raises ValueError when the text is not restic's JSON (the error restic printed instead)."""
    start = text.find("[")
    data = json.loads(text[start:] if start >= 0 else text)
    if not isinstance(data, list):
        raise ValueError("restic's snapshot list is not a JSON list")
    snapshots = [
        Snapshot(
            str(item.get("short_id", item.get("id", "?"))),
            datetime.fromisoformat(str(item["time"])),
            tuple(str(path) for path in item.get("paths", ())),
        )
        for item in data
    ]
    return max(snapshots, key=lambda s: s.time) if snapshots else None


def _age(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def key_line(public_key: str, user: str) -> str:
    """The authorized_keys line the backup host should hold, or what to do when there is none."""
    if not public_key.strip():
        return "(no key yet in " + PUBLIC_KEY + ": apply the backups step)"
    return f"{KEY_OPTIONS} {visible(public_key.strip())}   (in ~{user}/.ssh/authorized_keys)"


def judge_latest(
    output: str,
    rc: int,
    paths: Sequence[str],
    dumps_expected: bool,
    now: datetime,
    max_age_hours: int,
    public_key: str = "",
    last_run: str = "",
    target_user: str = "the backup user",
    ssh_output: str = "",
) -> CheckResult:
    """The latest snapshot exists, is younger than max_age_hours and holds every asked path
    (and the dumps folder when MariaDB runs); the last run of the service did not fail."""
    evidence = [f"the backup host must hold this key line: {key_line(public_key, target_user)}"]
    if rc != 0:
        lines = [visible(line) for line in output.strip().splitlines()][-ERROR_LINES:]
        evidence += ["restic says:", *("  " + line for line in lines)]
        if ssh_output.strip():
            evidence += ["ssh says:", *("  " + visible(line) for line in ssh_output.splitlines())]
        text = (output + "\n" + ssh_output).lower()
        if any(words.lower() in text for words in REPOSITORY_MISSING):
            return fail(
                CHECK_ID,
                "no backup yet: the repository on the backup host does not exist",
                "\n".join(evidence),
                f"put the key line above on the backup host, then run {START_NOW} "
                "(the first run makes the repository)",
            )
        if KEY_REFUSED in text:
            return fail(
                CHECK_ID,
                "the backup host refuses this server's key: it does not hold the key line yet",
                "\n".join(evidence),
                f"put the key line above in ~{target_user}/.ssh/authorized_keys on the backup "
                f"host, then run {START_NOW}",
            )
        if any(words in text for words in HOST_KEY_CHANGED):
            return fail(
                CHECK_ID,
                "the backup host's SSH key is not the one answered: restic refuses to talk to it",
                "\n".join(evidence),
                "read the key on the backup host itself (cat /etc/ssh/ssh_host_ed25519_key.pub); "
                "if it changed on purpose, answer it again and apply the backups step",
            )
        if WRONG_PASSWORD in text:
            return fail(
                CHECK_ID,
                "the repository password on this server does not open the repository",
                "\n".join(evidence),
                "put back the password you stored into /etc/vps-wizard/backups/"
                "repository-password (mode 0600): without it these backups cannot be read",
            )
        return fail(
            CHECK_ID,
            "restic could not read the backups on the backup host",
            "\n".join(evidence),
            "check that the backup host answers, that its host key is the one answered, and "
            f"that it holds the key line above; then run {START_NOW}",
        )
    try:
        latest = parse_latest(output)
    except (ValueError, KeyError, TypeError) as error:
        evidence.append(visible(output.strip()[-500:]))
        return fail(
            CHECK_ID,
            f"restic's list of snapshots could not be read ({error})",
            "\n".join(evidence),
            "run vps-wizard-restic snapshots on the server to see why",
        )
    if latest is None:
        return fail(
            CHECK_ID,
            "no backup yet: the repository holds no snapshot",
            "\n".join(evidence),
            f"run {START_NOW} (or wait for the timer), then verify again",
        )
    age = (now - latest.time).total_seconds()
    held = {posixpath.normpath(path) for path in latest.paths}
    wanted = [posixpath.normpath(path) for path in paths]
    if dumps_expected:
        wanted.append(DUMPS)
    missing = [path for path in wanted if path not in held]
    evidence += [
        f"latest snapshot {visible(latest.short_id)} of {latest.time.isoformat()} "
        f"({_age(age)} ago) holds: {', '.join(visible(p) for p in latest.paths) or 'nothing'}",
    ]
    if last_run.strip():
        evidence.append("last run: " + " ".join(visible(last_run).split()))
    evidence_text = "\n".join(evidence)
    if age > max_age_hours * 3600:
        return fail(
            CHECK_ID,
            f"the latest backup is {_age(age)} old, more than {max_age_hours} h",
            evidence_text,
            "look at why the runs fail (journalctl -u vps-wizard-backup.service) and that the "
            f"timer runs (systemctl list-timers); then run {START_NOW}",
        )
    if missing:
        why = (
            "; MariaDB runs but no dump was backed up"
            if DUMPS in missing
            else " (restic skips a path that does not exist, and still succeeds)"
        )
        return fail(
            CHECK_ID,
            f"the latest backup does not hold {', '.join(visible(p) for p in missing)}{why}",
            evidence_text,
            "make sure each path exists on the server (or answer the paths again and apply), "
            f"then run {START_NOW}",
        )
    if "Result=success" not in last_run and last_run.strip():
        return warn(
            CHECK_ID,
            f"the latest backup is complete and {_age(age)} old, but the last run failed",
            evidence_text,
            "journalctl -u vps-wizard-backup.service says why",
        )
    what = f"{len(wanted)} paths" + (" with the database dumps" if dumps_expected else "")
    return ok(CHECK_ID, f"the latest backup is {_age(age)} old and holds all {what}", evidence_text)


@check(CHECK_ID)
def latest_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The latest snapshot, read on the server through the step's wrapper, judged here."""
    paths = names_of(params.get("paths") or [])
    if not all(safe_path(path) for path in paths):
        return fail(CHECK_ID, "the paths to check are not plain paths", hint="a step bug")
    sections = run_sections(ctx, LATEST_SCRIPT)
    return judge_latest(
        sections.get("SNAPSHOTS", ""),
        exit_code(sections.get("RC", "")),
        paths,
        sections.get("MARIADB", "").strip() == "active",
        datetime.now(UTC),
        int(params.get("max_age_hours") or 26),
        sections.get("KEY", ""),
        sections.get("LASTRUN", ""),
        str(params.get("user") or "the backup user"),
        sections.get("SSH", ""),
    )
