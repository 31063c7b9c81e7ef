"""The maintenance step on a real Debian 12 host: in the TUI first, then through the CLI.

One host for the file, with base, web (nginx, PHP-FPM) and vhost applied through the CLI. The
TUI applies the step with its defaults and every check is ok. The CLI then asks for the image
timer, and each check is shown failing on a host broken by hand: a library PHP-FPM maps is
replaced as an upgrade does it (a new file renamed over the old), and the check names the
service and the library, the plan lists exactly `systemctl restart -- php8.2-fpm.service`, the
apply with restart answered yes restarts it and the check is ok again; a disk threshold below
the current use fails; web root modes changed by hand fail and the apply puts them back; the
timer disabled by hand fails. Each time a second plan has nothing to change.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.host.fixtures import FRESH_SLOTS, boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails
from tests.host.pilot import make_app, overview_ready, run_step, select_step, wait_until

pytestmark = pytest.mark.host
STEP = "maintenance"
DOMAIN = "example.net"
ROOT = f"/var/www/{DOMAIN}"
PHP = "php8.2-fpm.service"
SETUP = """\
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false

[web]
server = "nginx"

[vhost]
domain = "example.net"
canonical = "bare"
owner = "site"

"""


def maintenance(restart: bool = False, disk_max: int = 95, images: bool = True) -> str:
    return (
        f"[maintenance]\nrestart = {str(restart).lower()}\ndisk_max = {disk_max}\n"
        f"inodes_max = 95\nweb_permissions = true\nimages = {str(images).lower()}\n"
    )


@dataclass
class Host:
    wizard: Wizard
    answers: Path

    def answer(self, **maintenance_answers: Any) -> None:
        self.answers.write_text(SETUP + maintenance(**maintenance_answers))

    def exec(self, command: str, check: bool = True) -> str:
        return self.wizard.host.exec(command, check=check).stdout

    def results(self) -> list[dict[str, Any]]:
        """The step's check results in their order."""
        out = self.wizard.cli("verify", self.wizard.host.address, "--json", "--step", STEP)
        assert out.stdout, out.stderr
        found = json.loads(out.stdout)["steps"][STEP]
        assert [r["check"] for r in found] == [
            "maintenance.deleted_libraries",
            "maintenance.usage",
            "maintenance.web_root",
            "command",
            "command",
        ], found
        return found

    def plan(self) -> str:
        out = self.cli("plan")
        assert out.returncode in (0, 2), out.stdout + out.stderr  # 2: changes to make
        return out.stdout

    def cli(self, command: str):
        args = [command, self.wizard.host.address, "--answers", str(self.answers), "--step", STEP]
        return self.wizard.cli(*args, *(["--yes"] if command == "apply" else []))

    def apply(self) -> str:
        out = self.cli("apply")
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def assert_no_change(self) -> None:
        plan = self.plan()
        assert f"{STEP}: nothing to change" in plan, plan


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """Base, web and vhost applied through the CLI; maintenance not yet."""
    testhost = boot_free("vmt", FRESH_SLOTS)
    home = tmp_path_factory.mktemp("maintenance-laptop")
    wizard = Wizard(testhost, home)
    wizard.trust_host()
    answers = home / "answers.toml"
    answers.write_text(SETUP)
    try:
        apply_ok(wizard, f"root@{testhost.address}", ["base", "web", "vhost"], answers)
        yield Host(wizard, answers)
    finally:
        testhost.stop()


async def test_tui_applies_the_step_with_its_defaults_every_check_ok(host):
    app = make_app(host.wizard, "root")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 30)
        await select_step(pilot, app, STEP)
        await run_step(pilot, app, STEP, {})
        status = app.screen.statuses[STEP].record.status
        await pilot.press("q")
    assert status == "verified"
    # needrestart is there, set to list only.
    assert "$nrconf{restart} = 'l';" in host.exec("cat /etc/needrestart/conf.d/vps-wizard.conf")


def png(side: int = 64) -> bytes:
    """A grey gradient stored uncompressed (zlib level 0): optipng shrinks it losslessly."""
    rows = b"".join(b"\x00" + bytes((x + y) % 256 for x in range(side)) for y in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 0))
        + chunk(b"IEND", b"")
    )


def test_cli_images_timer_all_ok_optimised_losslessly_then_nothing_to_change(host):
    host.answer(images=True)
    host.apply()
    assert [r["status"] for r in host.results()] == ["ok"] * 5, host.results()
    host.assert_no_change()

    # The timer's service, run now: the PNG shrinks, keeps its owner and mode.
    data = png()
    image = f"{ROOT}/public/gradient.png"
    host.wizard.host.exec(f"base64 -d > {image}", input=base64.b64encode(data).decode())
    host.exec(f"chown site:www-data {image} && chmod 0640 {image}")
    host.exec("systemctl start vps-wizard-images.service")
    size = int(host.exec(f"stat -c %s {image}"))
    assert size < len(data), (size, len(data))
    assert host.exec(f"stat -c '%a %U:%G' {image}").strip() == "640 site:www-data"
    assert host.results()[2]["status"] == "ok"

    # The timer disabled by hand fails its check; the apply enables it again.
    host.exec("systemctl disable --now vps-wizard-images.timer")
    assert_fails(host.results()[4], "image", "disabled")
    host.apply()
    assert host.results()[4]["status"] == "ok"
    host.assert_no_change()


def php_only_library(host: Host) -> str:
    """A library PHP-FPM's processes map and no other process does."""
    cgroups = host.exec(f"grep -l -s -x '0::.*/{PHP}' /proc/[0-9]*/cgroup", check=False)
    procs = {path.split("/")[2] for path in cgroups.split()}
    assert procs, "PHP-FPM runs no process"
    maps = host.exec(
        "grep -s -H -o -E ' /[^ ]*\\.so[^ ]*$' /proc/[0-9]*/maps | sort -u", check=False
    )
    by_library: dict[str, set[str]] = {}
    for line in maps.splitlines():
        path, _, library = line.partition(": ")
        by_library.setdefault(library.strip(), set()).add(path.split("/")[2])
    only = sorted(lib for lib, pids in by_library.items() if pids <= procs)
    assert only, by_library
    return only[0]


def test_a_replaced_library_is_named_listed_restarted_and_clean(host):
    library = php_only_library(host)
    name = library.rsplit("/", 1)[-1]
    host.answer(restart=False)
    host.apply()
    assert host.results()[0]["status"] == "ok"
    # What an upgrade does: the new file renamed over the old one.
    host.exec(f"cp -a {library} {library}.vw-new && mv {library}.vw-new {library}")
    result = host.results()[0]
    assert_fails(result, PHP, name, "restart the services")
    assert f"{PHP}: {library}" in result["evidence"]
    # Not answered yes: the plan restarts nothing.
    assert "systemctl restart" not in host.plan()
    host.answer(restart=True)
    plan = host.plan()
    assert re.search(rf"systemctl restart -- '?{re.escape(PHP)}'?\s*$", plan, re.M), plan
    before = host.exec(f"systemctl show -p MainPID --value {PHP}").strip()
    host.apply()
    assert host.exec(f"systemctl show -p MainPID --value {PHP}").strip() != before
    assert host.results()[0]["status"] == "ok"
    host.assert_no_change()
    host.answer(restart=False)


def test_a_threshold_below_the_use_and_a_needrestart_that_restarts_fail(host):
    line = host.exec("df -P / | tail -n 1")
    use = int(line.split()[4].rstrip("%"))
    assert use >= 2, line  # a threshold of use - 1 must be allowed (at least 1)
    # The answer is recorded by an apply (nothing else changes); its checks then fail.
    host.answer(disk_max=use - 1)
    host.cli("apply")
    # And a later needrestart drop-in that restarts by itself: the list-only check fails.
    host.exec("echo \"\\$nrconf{restart} = 'a';\" > /etc/needrestart/conf.d/zz-auto.conf")
    found = host.results()
    usage, needrestart = found[1], found[3]
    assert_fails(usage, f"/ is {use}% full (threshold {use - 1}%)", "du -xh")
    assert_fails(needrestart, "restarts none by itself", "restart=a")
    host.exec("rm /etc/needrestart/conf.d/zz-auto.conf")
    # The threshold is answered back by the next test's apply, whose checks are then all ok.


def test_web_root_modes_changed_by_hand_fail_and_the_apply_repairs_them(host):
    host.answer()
    host.exec(f"chmod 0666 {ROOT}/public/index.html && chmod 0755 {ROOT}/public")
    host.exec(f"touch {ROOT}/public/root-owned.txt")
    # A link as the wordpress step makes them, root's: its own owner gives no access.
    host.exec(f"ln -s /usr/share/doc {ROOT}/public/linked")
    result = host.results()[2]
    assert_fails(
        result, "3 entries", "666 site:www-data", "644 root:www-data", "web root answered yes"
    )
    host.apply()
    assert [r["status"] for r in host.results()] == ["ok"] * 5
    assert host.exec(f"stat -c '%a %U:%G' {ROOT}/public/root-owned.txt").strip() == (
        "640 site:www-data"
    )
    assert host.exec(f"stat -c %U:%G {ROOT}/public/linked").strip() == "root:www-data"
    host.assert_no_change()
