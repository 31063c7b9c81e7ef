"""The backups step on two real Debian 12 hosts: the server, and a backup host that has nothing
but sshd and a user.

The two machines sit in network namespaces of their own with no route between them; a relay on
the server's side of its link (its gateway, port 2222) forwards to the backup host's sshd, as a
port forward in front of a real backup host would. The server applies the step through the CLI
(and in the TUI by keyboard), the user puts the key line the check shows on the backup host and
starts the first backup; then every check is ok, a second apply is a no-op, a file and a
database row deleted on the server are restored from the backup and compared, and each check
fails on a server broken by hand.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from screens.questions import QuestionsScreen
from screens.reveal import RevealModal
from screens.review import ReviewScreen
from screens.verify import VerifyScreen
from tests.host.fixtures import FRESH_SLOTS, boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails
from tests.host.pilot import (
    close_checks,
    make_app,
    overview_ready,
    select_step,
    verify_step,
    wait_until,
)
from wizard.testhost.machine import TestHost
from wizard.testhost.relay import DelayRelay

pytestmark = pytest.mark.host
STEP = "backups"
RELAY_PORT = 2222
BACKUP_USER = "vpsbackup"
REPOSITORY = "/srv/backups/server"
SITE_FILE = "/var/www/site/public/index.html"
RESTIC = "/usr/local/sbin/vps-wizard-restic"
PASSWORD = "/etc/vps-wizard/backups/repository-password"
SQL = (
    "CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(40)) "
    "ENGINE=InnoDB; INSERT INTO shop.items VALUES (1, 'kettle'), (2, 'teapot'), (3, 'cup')"
)
INSTALL_RSYNC = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsync >/dev/null"
PREPARE_SERVER = (
    "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=240 install -y -q "
    "mariadb-server >/dev/null && "
    f'mariadb -e "{SQL}" && mkdir -p /var/www/site/public && '
    f"echo '<p>the shop</p>' > {SITE_FILE}"
)
SSH_TO_TARGET = "ssh -F /etc/vps-wizard/backups/ssh_config vps-wizard-backup -s sftp"
KNOWN_HOSTS = "/etc/vps-wizard/backups/known_hosts"
PULL_KEYS = "/var/lib/vps-wizard-pull/.ssh/authorized_keys"
# rsync's remote shell on the backup host for the pull, and the server as it reaches it.
PULL_SSH = "'ssh -i /root/.ssh/pull -p 2222 -o StrictHostKeyChecking=accept-new' vps-wizard-pull@{}"
BASE = """\
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false
"""


@dataclass
class Pair:
    """The server with its laptop, the backup host, and what the answers need of them."""

    wizard: Wizard
    target: TestHost
    answers: dict[str, Any]

    @property
    def server(self) -> TestHost:
        return self.wizard.host


def answers_toml(answers: dict[str, Any]) -> str:
    lines = [BASE, f"[{STEP}]"]
    lines += [f"{name} = {json.dumps(value)}" for name, value in answers.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two machines, the relay between them, MariaDB with a small shop database and a web root
    on the server, a user and a folder for the backups on the backup host, base applied."""
    with ThreadPoolExecutor(2) as pool:
        booting = [pool.submit(boot_free, prefix, FRESH_SLOTS) for prefix in ("vbs", "vbt")]
        server, target = (future.result() for future in booting)
    # The server reaches the backup host at its own gateway, and the backup host the server (for
    # the pull) at its gateway: the server sees the pull coming from its gateway's address.
    relay = DelayRelay(target.address, 22, 0.0, listen_host=server.gateway, listen_port=RELAY_PORT)
    back = DelayRelay(server.address, 22, 0.0, listen_host=target.gateway, listen_port=RELAY_PORT)
    try:
        relay.start()
        back.start()
        target.exec(
            f"useradd --create-home --shell /bin/sh {BACKUP_USER} && "
            f"install -d -o {BACKUP_USER} -g {BACKUP_USER} -m 0700 /srv/backups && "
            "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/pull"
        )
        host_key = target.exec("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.strip()
        pull_key = target.exec("cat /root/.ssh/pull.pub").stdout.strip()
        rsync = threading.Thread(target=target.exec, args=(INSTALL_RSYNC,), kwargs={"timeout": 240})
        rsync.start()
        mariadb = threading.Thread(
            target=server.exec, args=(PREPARE_SERVER,), kwargs={"timeout": 240}
        )
        mariadb.start()
        wizard = Wizard(server, tmp_path_factory.mktemp("backups-laptop"))
        wizard.trust_host()
        answers = {
            "target_host": server.gateway,
            "target_port": RELAY_PORT,
            "target_user": BACKUP_USER,
            "target_path": REPOSITORY,
            "target_host_key": host_key,
            "paths": ["/etc", "/root", "/var/www"],
            "time": "03:30",
            "keep_daily": 7,
            "keep_weekly": 4,
            "keep_monthly": 12,
            "pull": False,
            "pull_key": pull_key,
            "pull_from": server.gateway,
        }
        base = wizard.home / "base.toml"
        base.write_text(BASE)
        apply_ok(wizard, f"root@{server.address}", ["base"], answers=base)
        mariadb.join()
        rsync.join()
        assert server.exec("mariadb -N -e 'SELECT COUNT(*) FROM shop.items'").stdout == "3\n"
        yield Pair(wizard, target, answers)
    finally:
        back.stop()
        relay.stop()
        target.stop()
        server.stop()


def cli(pair: Pair, command: str, answers: Path):
    args = [command, f"root@{pair.server.address}", "--answers", str(answers), "--step", STEP]
    return pair.wizard.cli(*args, *(["--yes"] if command == "apply" else []))


def results(pair: Pair) -> list[dict[str, Any]]:
    """The step's check results, in the step's order (two are `command` checks)."""
    run = pair.wizard.cli("verify", pair.server.address, "--json", "--step", STEP)
    assert run.stdout, run.stderr
    return json.loads(run.stdout)["steps"][STEP]


def backup_now(pair: Pair) -> None:
    """Run the service once, as the timer would; it must succeed (its journal otherwise)."""
    run = pair.server.exec("systemctl start vps-wizard-backup.service", check=False, timeout=120)
    if run.returncode != 0:
        journal = pair.server.exec("journalctl -u vps-wizard-backup.service -n 30 -o cat")
        raise AssertionError(f"the backup failed: {run.stderr}\n{journal.stdout}")


def install_key_from_evidence(pair: Pair, evidence: str) -> str:
    """Put the key line the check shows into the backup user's authorized_keys, as a user would."""
    found = re.search(
        r"^the backup host must hold this key line: "
        r'(restrict,command="internal-sftp" ssh-ed25519 \S+ \S+)',
        evidence,
        re.M,
    )
    assert found, evidence
    line = found.group(1)
    pair.target.exec(
        f"install -d -m 0700 -o {BACKUP_USER} -g {BACKUP_USER} /home/{BACKUP_USER}/.ssh && "
        f"printf '%s\\n' {shlex.quote(line)} > /home/{BACKUP_USER}/.ssh/authorized_keys && "
        f"chown {BACKUP_USER}: /home/{BACKUP_USER}/.ssh/authorized_keys"
    )
    return line


async def test_backups_step_by_keyboard_then_the_first_backup(pair):
    app = make_app(pair.wizard, None)
    asked = {k: v for k, v in pair.answers.items() if not k.startswith("pull")}
    typed = {k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in asked.items()}
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 30)
        await select_step(pilot, app, STEP)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QuestionsScreen))
        for name, value in typed.items():
            control = app.screen.field(name).control_widget
            assert isinstance(control, Input)
            control.value = value
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("A")
        # The repository password, made by the apply, is shown this once for the user to store.
        # Its texts mounted too: under load the modal can be on top a moment before them.
        await wait_until(
            pilot, lambda: isinstance(app.screen, RevealModal) and app.screen.query(Static), 120
        )
        password = pair.server.exec(f"cat {PASSWORD}").stdout.strip()
        shown = [str(s.visual) for s in app.screen.query(Static)]
        assert password in shown, shown
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen))
        await wait_until(pilot, lambda: not app.screen.running)
        # No backup yet: the target does not know the server's key. The check says what to do.
        failed = await close_checks(pilot, app, all_ok=False)
        assert [r.check_id for r in failed] == ["backups.latest", "command"], failed
        assert "the backup host refuses this server's key" in failed[0].summary, failed[0]
        install_key_from_evidence(pair, failed[0].evidence)
        latest = results(pair)[0]
        # The whole evidence as text (pytest shortens a dict): restic's and ssh's own words.
        assert "no backup yet: the repository" in latest["summary"], "\n".join(
            (latest["summary"], latest["evidence"])
        )
        backup_now(pair)
        await verify_step(pilot, app, STEP)
        await pilot.press("q")


def test_cli_apply_is_a_no_op_backups_restore_and_checks_fail_when_broken(pair, tmp_path):
    server = pair.server
    answers = tmp_path / "answers.toml"
    answers.write_text(answers_toml({**pair.answers, "pull": True}))
    first = cli(pair, "apply", answers)
    # Shown once already (in the TUI above, or here when this test runs alone), never again.
    password = server.exec(f"cat {PASSWORD}").stdout.strip()
    assert first.stdout.count(password) + first.stderr.count(password) <= 1
    if first.returncode != 0:  # this test alone: the first apply, the key not on the target yet
        assert "✘ backups.latest: the backup host refuses this server's key" in first.stdout
        assert "Permission denied (publickey" in first.stdout
        install_key_from_evidence(pair, results(pair)[0]["evidence"])
    backup_now(pair)
    applied = cli(pair, "apply", answers)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    plan = cli(pair, "plan", answers)
    assert plan.returncode == 0 and f"{STEP}: nothing to change" in plan.stdout, plan.stdout

    checked = results(pair)
    assert [r["status"] for r in checked] == ["ok", "ok", "ok", "ok"], checked
    latest, timer, restore, pull = checked
    assert f"may pull /var/www read-only with rsync, from {server.gateway} only" in pull["summary"]
    assert "holds all 4 paths with the database dumps" in latest["summary"], latest
    assert "/var/backups/vps-wizard-db" in latest["evidence"]
    assert re.search(
        r"restore test: [1-9]\d* files restored identical, \d+ changed since the "
        r"backup, [1-9]\d* database dumps",
        restore["evidence"],
    ), restore
    # The secrets stay on the server: not in the answers, the state, the output, argv.
    password = server.exec(f"cat {PASSWORD}").stdout.strip()
    assert len(password) >= 40
    assert (
        server.exec(f"stat -c '%a %U' {PASSWORD} /etc/vps-wizard/backups/id_ed25519").stdout
        == "600 root\n600 root\n"
    )
    laptop = b"".join(p.read_bytes() for p in pair.wizard.home.rglob("*") if p.is_file())
    assert password.encode() not in laptop
    assert password not in applied.stdout + applied.stderr + json.dumps(checked)
    # On the backup host only restic's encrypted files: no file name or content in clear.
    stored = pair.target.exec(f"grep -rl teapot {REPOSITORY} || true; ls {REPOSITORY}").stdout
    assert "teapot" not in stored and "config" in stored and "snapshots" in stored, stored

    # Delete a file and a database row on the server, restore both from the backup, compare.
    original = server.exec(f"cat {SITE_FILE}").stdout
    server.exec(f"rm {SITE_FILE} && mariadb -e 'DELETE FROM shop.items WHERE id = 2'")
    assert server.exec("mariadb -N -e 'SELECT COUNT(*) FROM shop.items'").stdout.strip() == "2"
    server.exec(
        f"{RESTIC} restore latest --target /tmp/restore --include {SITE_FILE} "
        "--include /var/backups/vps-wizard-db/shop.sql",
        timeout=120,
    )
    assert server.exec(f"cat /tmp/restore{SITE_FILE}").stdout == original
    server.exec(
        "mariadb -e 'CREATE DATABASE shop_restored' && "
        "mariadb shop_restored < /tmp/restore/var/backups/vps-wizard-db/shop.sql && "
        "mariadb -e 'INSERT INTO shop.items SELECT * FROM shop_restored.items WHERE id = 2; "
        f"DROP DATABASE shop_restored' && cp -p /tmp/restore{SITE_FILE} {SITE_FILE}"
    )
    rows = server.exec("mariadb -N -e 'SELECT id, name FROM shop.items ORDER BY id'").stdout
    assert rows == "1\tkettle\n2\tteapot\n3\tcup\n", rows

    # The series' pull: the backup host copies the web roots with rsync, and cannot write.
    pull_from = PULL_SSH.format(pair.target.gateway)
    pulled = pair.target.exec(
        f"rsync -a -e {pull_from}: /srv/pull/ && cat /srv/pull/site/public/index.html"
    )
    assert pulled.stdout == original, pulled
    write = pair.target.exec(f"rsync /etc/hostname -e {pull_from}:x", check=False)
    assert write.returncode != 0 and "read-only" in write.stderr, write

    # The backup host's key is pinned: another key is refused. (Every test host has the
    # image's host keys: the other key is made here.)
    server.exec(
        f"cp -p {KNOWN_HOSTS} /root/known_hosts.kept && "
        "ssh-keygen -q -t ed25519 -N '' -f /root/other && "
        f"sed -i \"s|ssh-ed25519 .*|$(cut -d' ' -f1,2 /root/other.pub)|\" {KNOWN_HOSTS}"
    )
    refused = server.exec(f"{SSH_TO_TARGET} </dev/null", check=False)
    assert refused.returncode != 0 and "Host key verification failed" in refused.stderr, refused
    latest = results(pair)[0]
    assert_fails(latest, "the backup host's SSH key is not the one answered")
    server.exec(f"mv /root/known_hosts.kept {KNOWN_HOSTS}")

    # Broken by hand, each check fails with its evidence (two verifies for the five breaks).
    # The timer stopped, the repository password lost:
    server.exec("systemctl stop vps-wizard-backup.timer")
    server.exec(f"cp -p {PASSWORD} /root/password.kept && echo wrong > {PASSWORD}")
    latest, timer, restore, _ = results(pair)
    assert timer["status"] == "fail" and "inactive" in timer["evidence"], timer
    assert latest["status"] == "fail", latest
    assert "password on this server does not open the repository" in latest["summary"]
    assert restore["status"] == "fail" and "wrong password" in restore["evidence"], restore
    server.exec(f"mv /root/password.kept {PASSWORD} && systemctl start vps-wizard-backup.timer")

    # A path gone at backup time (restic skips it and succeeds; the check does not), a database
    # made after the backup, the pull's key line without its restrictions:
    server.exec("mv /var/www /var/www.off")
    backup_now(pair)
    server.exec("mariadb -e 'CREATE DATABASE newer'")
    server.exec(f"sed -i 's/^restrict,from=[^ ]* //' {PULL_KEYS}")
    latest, timer, restore, pull = results(pair)
    assert latest["status"] == "fail" and "does not hold /var/www" in latest["summary"], latest
    assert restore["status"] == "fail" and "NO DUMP of the database newer" in restore["evidence"]
    assert pull["status"] == "fail" and "not the restricted one" in pull["evidence"], pull
    assert timer["status"] == "ok", timer
