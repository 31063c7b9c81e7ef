"""The backups step without a server: the latest-backup check's verdict for each case a server
shows (no repository yet, a wrong password, no snapshot, too old, a path restic skipped, the
dumps missing while MariaDB runs, a failed last run), and the files the answers render: the
pinned host key, the paths, the retention, and shell scripts that parse."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wizard.catalog import load_step
from wizard.checks.backups import (
    DUMPS,
    KEY_OPTIONS,
    LATEST_SCRIPT,
    judge_latest,
    parse_latest,
)
from wizard.checks.base import CheckStatus
from wizard.render import evaluate, render_template

STEP = load_step(Path(__file__).resolve().parents[2] / "templates" / "backups")[1]
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PATHS = ["/etc", "/root", "/var/www"]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0 vps-wizard-backup@server"
ANSWERS = {
    "target_host": "2001:db8::5",
    "target_port": 2222,
    "target_user": "vpsbackup",
    "target_path": "/srv/backups/server",
    "target_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey root@backup",
    "paths": PATHS,
    "time": "04:15",
    "keep_daily": 7,
    "keep_weekly": 0,
    "keep_monthly": 12,
}


def snapshots(hours_ago: float, paths: list[str]) -> str:
    time = (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")
    return json.dumps([{"time": time, "paths": paths, "short_id": "f3820a34", "tags": []}])


def judge(output: str, rc: int = 0, dumps: bool = True, last_run: str = "Result=success"):
    return judge_latest(output, rc, PATHS, dumps, NOW, 26, KEY, last_run, "vpsbackup")


def test_a_recent_complete_backup_is_ok_and_shows_the_key_line_to_install() -> None:
    result = judge(snapshots(2.5, [*PATHS, DUMPS]))
    assert result.status is CheckStatus.OK, result
    assert result.summary == (
        "the latest backup is 2.5 h old and holds all 4 paths with the database dumps"
    )
    assert f"{KEY_OPTIONS} {KEY}   (in ~vpsbackup/.ssh/authorized_keys)" in result.evidence
    assert "f3820a34" in result.evidence


def test_restics_nanoseconds_and_zone_are_read() -> None:
    text = '[{"time":"2026-12-07T03:28:19.252630414+01:00","paths":["/etc"],"short_id":"a"}]'
    latest = parse_latest(text)
    assert latest is not None
    assert latest.time == datetime(2026, 12, 7, 2, 28, 19, 252630, tzinfo=UTC)
    assert parse_latest("[]") is None


@pytest.mark.parametrize(
    ("output", "rc", "summary", "hint"),
    [
        (
            "Fatal: unable to open config file: Lstat /srv/backups/server/config: no such file\n"
            "Is there a repository at the following location?",
            1,
            "no backup yet: the repository on the backup host does not exist",
            "put the key line above on the backup host",
        ),
        (
            "Fatal: wrong password or no key found",
            1,
            "the repository password on this server does not open the repository",
            "put back the password you stored",
        ),
        (
            "subprocess ssh: vpsbackup@192.0.2.5: Permission denied (publickey,password).\n"
            "Fatal: unable to open repository at sftp:vps-wizard-backup:/srv/backups/server",
            1,
            "the backup host refuses this server's key",
            "in ~vpsbackup/.ssh/authorized_keys on the backup host",
        ),
        (
            "subprocess ssh: Host key verification failed.\nFatal: unable to open repository",
            1,
            "the backup host's SSH key is not the one answered",
            "cat /etc/ssh/ssh_host_ed25519_key.pub",
        ),
        (
            "subprocess ssh: ssh: connect to host 192.0.2.5 port 22: Connection refused",
            1,
            "restic could not read the backups on the backup host",
            "its host key is the one answered",
        ),
        ("[]", 0, "no backup yet: the repository holds no snapshot", "systemctl start"),
        ("Fatal: \x1b[31mgarbled", 0, "restic's list of snapshots could not be read", "snapshots"),
    ],
)
def test_no_usable_snapshot_fails_with_what_to_do(output, rc, summary, hint) -> None:
    result = judge(output, rc)
    assert result.status is CheckStatus.FAIL, result
    assert result.summary.startswith(summary), result
    assert hint in result.hint
    assert "\x1b" not in result.evidence  # server text made visible
    assert KEY in result.evidence  # the key line to install is always there


def test_too_old_fails() -> None:
    result = judge(snapshots(27, [*PATHS, DUMPS]))
    assert result.status is CheckStatus.FAIL
    assert result.summary == "the latest backup is 27.0 h old, more than 26 h"


def test_a_path_restic_skipped_fails_and_says_why() -> None:
    result = judge(snapshots(1, ["/etc", "/root", DUMPS]))
    assert result.status is CheckStatus.FAIL
    assert "does not hold /var/www" in result.summary
    assert "restic skips a path that does not exist" in result.summary


def test_the_dumps_are_needed_only_while_mariadb_runs() -> None:
    missing = judge(snapshots(1, PATHS))
    assert missing.status is CheckStatus.FAIL
    assert "MariaDB runs but no dump was backed up" in missing.summary
    assert judge(snapshots(1, PATHS), dumps=False).status is CheckStatus.OK
    # A path answered with a trailing slash is the path restic records.
    slash = judge_latest(snapshots(1, PATHS), 0, ["/etc/", "/root", "/var/www"], False, NOW, 26)
    assert slash.status is CheckStatus.OK, slash


def test_a_failed_last_run_after_a_good_backup_is_a_warning() -> None:
    result = judge(snapshots(1, [*PATHS, DUMPS]), last_run="Result=exit-code\nExecMainStatus=3")
    assert result.status is CheckStatus.WARN
    assert "the last run failed" in result.summary
    assert "last run: Result=exit-code ExecMainStatus=3" in result.evidence


def test_the_check_script_parses() -> None:
    subprocess.run(["sh", "-n", "-c", str(LATEST_SCRIPT)], check=True)


def render(template: str, **changes: object) -> str:
    return render_template(STEP, template, {"answers": {**ANSWERS, **changes}, "facts": {}})


def test_the_host_key_is_pinned_for_the_host_and_port_answered() -> None:
    assert render("known_hosts.j2") == (
        "[2001:db8::5]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey\n"
    )
    assert render("known_hosts.j2", target_port=22).startswith("2001:db8::5 ssh-ed25519 ")
    config = render("ssh_config.j2")
    assert "StrictHostKeyChecking yes\n" in config
    assert "UserKnownHostsFile /etc/vps-wizard/backups/known_hosts\n" in config
    assert "BatchMode yes\n" in config


def test_paths_retention_and_timer_follow_the_answers() -> None:
    assert render("paths.j2") == "/etc\n/root\n/var/www\n"
    backup = render("backup.sh.j2")
    assert "--keep-daily 7 --keep-monthly 12\n" in backup
    assert "--keep-weekly" not in backup  # 0: not asked for, not "keep none"
    assert "OnCalendar=*-*-* 04:15:00\n" in render("vps-wizard-backup.timer.j2")
    assert "Persistent=true\n" in render("vps-wizard-backup.timer.j2")
    assert render("repository.j2") == "sftp:vps-wizard-backup:/srv/backups/server\n"


@pytest.mark.parametrize("template", ["backup.sh.j2", "restic.sh.j2", "restore-test.sh.j2"])
def test_the_scripts_parse_and_read_the_password_from_its_file_only(template: str) -> None:
    text = render(template)
    subprocess.run(["sh", "-n", "-c", text], check=True)
    assert "RESTIC_PASSWORD=" not in text and "--password " not in text


def test_the_default_paths_take_the_web_roots_when_vhost_is_applied() -> None:
    default = next(q.default for q in STEP.questions if q.name == "paths")
    assert default is not None
    assert evaluate(STEP, default, {"steps": {}, "facts": {}}) == ["/etc", "/root"]
    with_vhost = evaluate(STEP, default, {"steps": {"vhost": {}}, "facts": {}})
    assert with_vhost == ["/etc", "/root", "/var/www"]


def test_the_pull_key_may_only_read_the_web_roots_from_one_address() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPull o'k $(touch /tmp/x)"
    line = render("pull_authorized_keys.j2", pull=True, pull_key=key, pull_from="192.0.2.9")
    assert line.splitlines()[1] == (
        'restrict,from="192.0.2.9",command="/usr/bin/rrsync -ro /var/www" '
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPull vps-wizard-pull"
    )


def test_ssh_alone_says_why_when_restic_did_not() -> None:
    restic = "Fatal: unable to open repository at sftp:vps-wizard-backup:/srv: error: EOF"
    ssh = "Host key verification failed.\n"
    result = judge_latest(restic, 1, PATHS, False, NOW, 26, KEY, "", "vpsbackup", ssh)
    assert result.summary.startswith("the backup host's SSH key is not the one answered")
    assert "ssh says:\n  Host key verification failed." in result.evidence
