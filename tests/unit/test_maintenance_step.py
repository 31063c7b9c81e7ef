"""The maintenance step's judgements, without a server: processes mapping a deleted library
found (by the real script, on this machine) and sorted into services to restart and what only a
re-exec, a login or a reboot renews; the restart command rendered from the facts, one quoted
word per unit; disk and inode use per real filesystem; the web root's strays."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from wizard.catalog import load_catalog
from wizard.checks.base import CheckStatus
from wizard.checks.maintenance import (
    DIRECTORIES_ONLY,
    judge_deleted,
    judge_usage,
    judge_web_root,
    parse_df,
)
from wizard.deletedlibs import (
    DELETED_MAPS_SCRIPT,
    DeletedMap,
    Holder,
    parse_deleted_maps,
    services_to_restart,
)
from wizard.facts import parse_facts
from wizard.render import evaluate, render_shell, render_template

STEP = load_catalog().get("maintenance")
LIB = "/usr/lib/x86_64-linux-gnu/libssl.so.3"


def maps(*rows: tuple[int, str, str]) -> tuple[DeletedMap, ...]:
    return tuple(DeletedMap(pid, unit, lib, "prog") for pid, unit, lib in rows)


def test_lines_are_parsed_and_untrusted_names_never_reach_a_command() -> None:
    found = parse_deleted_maps(
        [
            f"812\tnginx.service\t{LIB}\tnginx",
            f"813\tx;reboot.service\t{LIB}\tevil",  # not a unit name systemd gives
            "814\tcron.service\t/tmp/a b.so (deleted)\tcron",  # not a plain path
            f"815\t-\t{LIB}\tbad\x1b]0;title\x07",
            "garbage",
        ]
    )
    assert [(m.pid, m.unit) for m in found] == [(812, "nginx.service"), (813, "-"), (815, "-")]
    assert found[2].command == "bad\\x1b]0;title\\x07"


@pytest.mark.parametrize(
    ("pid", "unit", "holder"),
    [
        (812, "php8.2-fpm.service", Holder.SERVICE),
        (300, "ssh.service", Holder.SERVICE),
        (200, "dbus.service", Holder.KEPT),
        (201, "systemd-logind.service", Holder.KEPT),
        (202, "getty@tty1.service", Holder.KEPT),
        (203, "user@1000.service", Holder.KEPT),
        (204, "systemd-networkd.service", Holder.KEPT),
        (205, "vps-wizard-apply-20261207-1.service", Holder.KEPT),
        (1, "init.scope", Holder.INIT),
        (900, "session-3.scope", Holder.SESSION),
        (901, "-", Holder.SESSION),
    ],
)
def test_who_holds_a_process(pid: int, unit: str, holder: Holder) -> None:
    assert DeletedMap(pid, unit, LIB, "x").holder is holder


def test_services_to_restart_are_the_restartable_ones_once_sorted() -> None:
    found = maps(
        (3, "php8.2-fpm.service", LIB),
        (2, "nginx.service", LIB),
        (4, "php8.2-fpm.service", "/usr/lib/libz.so.1"),
        (5, "dbus.service", LIB),
        (6, "session-2.scope", LIB),
    )
    assert services_to_restart(found) == ("nginx.service", "php8.2-fpm.service")


def test_a_service_on_a_deleted_library_fails_naming_it_and_the_library() -> None:
    result = judge_deleted(maps((3, "php8.2-fpm.service", LIB), (6, "session-2.scope", LIB)))
    assert result.status is CheckStatus.FAIL
    assert "php8.2-fpm.service still runs a deleted library (libssl.so.3)" in result.summary
    assert f"php8.2-fpm.service: {LIB}" in result.evidence
    assert "session-2.scope" in result.evidence
    assert "systemctl restart php8.2-fpm.service" in result.hint
    assert "'restart the services' answered yes" in result.hint


def test_what_a_restart_would_harm_only_warns_with_what_renews_it() -> None:
    result = judge_deleted(
        maps((1, "init.scope", LIB), (5, "dbus.service", LIB), (6, "session-2.scope", LIB))
    )
    assert result.status is CheckStatus.WARN
    assert "dbus.service map a deleted library" in result.summary
    assert "systemd (PID 1) maps a deleted library" in result.summary
    assert "daemon-reexec" in result.hint and "log out" in result.hint
    assert "reboot" in result.hint


def test_nothing_mapped_is_ok() -> None:
    assert judge_deleted(()).status is CheckStatus.OK


def test_the_script_finds_a_process_on_a_library_renamed_over(tmp_path: Path) -> None:
    """What an upgrade does, on this machine: a running program's library replaced by a new
    file renamed over it; the script reports the process and the old library's path."""
    libz = next(Path(d) / "libz.so.1" for d in ("/lib/x86_64-linux-gnu", "/usr/lib64", "/lib"))
    if not libz.exists() or not shutil.which("sleep"):
        pytest.skip("no libz.so.1 to preload here")
    copy = tmp_path / "libz.so.1"
    shutil.copy(libz, copy)
    sleeper = subprocess.Popen(["sleep", "30"], env={"LD_PRELOAD": str(copy)})
    try:
        time.sleep(0.2)
        shutil.copy(copy, tmp_path / "new")
        (tmp_path / "new").rename(copy)
        out = subprocess.run(
            ["sh", "-c", DELETED_MAPS_SCRIPT], capture_output=True, text=True, check=True
        ).stdout
    finally:
        sleeper.kill()
        sleeper.wait()
    mine = [m for m in parse_deleted_maps(out.splitlines()) if m.pid == sleeper.pid]
    assert [(m.library, m.command) for m in mine] == [(str(copy), "sleep")], out


def facts_output(*lines: str) -> str:
    return (
        "kernel=6.1.0\n"
        + "".join(f"deleted_map={line}\n" for line in lines)
        + ("@@OS-RELEASE\nID=debian\nVERSION_ID=12\n@@STATE\n{}\n@@DRIFT\n@@SSHD\n")
    )


def test_the_restart_command_names_exactly_the_facts_services_each_one_word() -> None:
    facts = parse_facts(
        facts_output(
            f"812\tphp8.2-fpm.service\t{LIB}\tphp-fpm8.2",
            f"90\tnginx.service\t{LIB}\tnginx",
            f"91\tdbus.service\t{LIB}\tdbus-daemon",
        )
    ).as_template_context()
    assert facts["stale_services"] == ("nginx.service", "php8.2-fpm.service")
    command = next(c for c in STEP.commands if "systemctl restart" in c.run)
    context = {"answers": {"restart": True}, "facts": facts, "steps": {}}
    assert evaluate(STEP, command.when or "", context)
    words = shlex.split(render_shell(STEP, command.run, context))
    assert words == ["systemctl", "restart", "--", "nginx.service", "php8.2-fpm.service"]
    # No yes, or nothing to restart: the command is not in the plan.
    assert not evaluate(STEP, command.when or "", {**context, "answers": {"restart": False}})
    empty = {**context, "facts": {**facts, "stale_services": ()}}
    assert not evaluate(STEP, command.when or "", empty)


def test_the_needrestart_drop_in_lists_only() -> None:
    text = render_template(STEP, "needrestart.conf.j2", {})
    assert "$nrconf{restart} = 'l';" in text


def test_the_image_script_parses_and_is_lossless() -> None:
    text = render_template(STEP, "vps-wizard-images.sh.j2", {})
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)
    jpegoptim = next(line for line in text.splitlines() if "-exec jpegoptim" in line)
    assert "--strip-none" in jpegoptim and " -m" not in jpegoptim  # no quality change
    unit = render_template(
        STEP,
        "vps-wizard-images.service.j2",
        {"steps": {"vhost": {"domain": "example.net", "owner": "site"}}},
    )
    for line in ("User=site", "Nice=19", "IOSchedulingClass=idle"):
        assert line in unit.splitlines()
    assert "ExecStart=/bin/sh /usr/local/sbin/vps-wizard-images /var/www/example.net/public" in unit


DF = """\
Filesystem     Type     1024-blocks    Used Available Capacity Mounted on
/dev/vda1      ext4        40000000 36400000   3600000      91% /
tmpfs          tmpfs         800000     1000    799000       1% /run
/dev/vdb1      xfs         10000000  1000000   9000000      10% /srv/my data
/dev/loop0     squashfs       60000    60000         0     100% /snap/core/1
"""
DFI = """\
Filesystem     Type      Inodes  IUsed   IFree IUse% Mounted on
/dev/vda1      ext4     2600000 2550000   50000   99% /
tmpfs          tmpfs     200000     10  199990    1% /run
/dev/vdb1      btrfs          0      0       0     - /srv/my data
"""


def test_df_lines_skip_pseudo_filesystems_and_keep_spaces_in_mount_points() -> None:
    assert [(u.mount, u.percent) for u in parse_df(DF)] == [("/", 91), ("/srv/my data", 10)]
    assert [(u.mount, u.percent) for u in parse_df(DFI)] == [("/", 99), ("/srv/my data", None)]


def test_use_over_a_threshold_fails_naming_the_filesystem_and_where_to_look() -> None:
    result = judge_usage(DF, DFI, 90, 95)
    assert result.status is CheckStatus.FAIL
    assert result.summary == (
        "/ is 91% full (threshold 90%); / uses 99% of its inodes (threshold 95%)"
    )
    assert "du -xh --max-depth=2 /" in result.hint
    assert "du --inodes" in result.hint and "chapter 59" in result.hint
    assert "/srv/my data (xfs, /dev/vdb1): disk 10%, inodes not counted" in result.evidence


def test_use_at_or_under_the_thresholds_is_ok() -> None:
    result = judge_usage(DF, DFI, 91, 99)
    assert result.status is CheckStatus.OK
    assert result.summary == "2 filesystems under the thresholds (disk 91%, inodes 99%)"


def test_no_filesystem_fails() -> None:
    assert judge_usage("", "", 90, 90).status is CheckStatus.FAIL


def test_web_root_strays_fail_with_their_count() -> None:
    top = "2750 site:www-data /var/www/example.net"
    strays = "666 site:www-data /var/www/example.net/public/index.html\n"
    result = judge_web_root("/var/www/example.net", "site", top, strays, "12\n")
    assert result.status is CheckStatus.FAIL
    assert result.summary.startswith("12 entries of /var/www/example.net not as the vhost")
    assert "(the first 1 shown)" in result.summary
    assert "666 site:www-data" in result.evidence
    ok = judge_web_root("/var/www/example.net", "site", top, "", "0")
    assert ok.status is CheckStatus.OK
    missing = judge_web_root("/var/www/x", "site", "stat: cannot statx: No such file", "", "0")
    assert missing.status is CheckStatus.FAIL and "vhost step" in missing.hint


def test_the_step_s_checks_skip_the_web_root_without_vhost() -> None:
    check = next(c for c in STEP.checks if c.id == "maintenance.web_root")
    context = {"answers": {"web_permissions": True}, "steps": {}}
    assert evaluate(STEP, check.params["root"], context) == ""
    context["steps"] = {"vhost": {"domain": "example.net", "owner": "site"}}
    assert evaluate(STEP, check.params["root"], context) == "/var/www/example.net"


def test_file_mounts_are_left_out_of_the_usage(tmp_path: Path) -> None:
    """A file a container's manager binds in shows the host's disk: only directories count."""
    bound = tmp_path / "os-release"
    bound.write_text("ID=debian\n")
    df = (
        "Filesystem Type 1024-blocks Used Available Capacity Mounted on\n"
        f"overlay overlay 100 5 95 5% {tmp_path}\n"
        f"/dev/vda ext4 100 96 4 96% {bound}\n"
    )
    shown = subprocess.run(
        ["sh", "-c", f"{DIRECTORIES_ONLY}\ndirectories_only"],
        input=df,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [(u.mount, u.percent) for u in parse_df(shown)] == [(str(tmp_path), 5)]
