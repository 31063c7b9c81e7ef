"""The maintenance step's checks: no service runs a deleted library, disk and inode use under
the user's thresholds on every real filesystem, the web root's modes as the vhost step set.

What a command check cannot judge well: which process belongs to which service and what brings
each onto the new library (a restart, a re-exec, a new login), and a verdict per filesystem
that names the one over its threshold and how to find what fills it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    fail,
    marker,
    ok,
    run_sections,
    warn,
)
from wizard.checks.params import safe_path
from wizard.deletedlibs import (
    DELETED_MAPS_SCRIPT,
    DeletedMap,
    Holder,
    libraries_by_unit,
    parse_deleted_maps,
    services_to_restart,
)
from wizard.shell import Shell, code, script, sh
from wizard.visible import visible

RERUN = "apply the maintenance step again"
SHOWN = 10

# --------------------------------------------------------------------- deleted libraries

DELETED_ID = "maintenance.deleted_libraries"

# What brings each kind of holder onto the new library, when the step does not.
HOLDER_HINTS = {
    Holder.KEPT: "a reboot when it suits you (a restart of these would cut sessions or the "
    "network, so the wizard leaves them)",
    Holder.INIT: "systemctl daemon-reexec (systemd itself, PID 1)",
    Holder.SESSION: "log out and in again (login sessions, your own included)",
}


def judge_deleted(maps: tuple[DeletedMap, ...]) -> CheckResult:
    """Fail while a service the step may restart maps a deleted library; warn for what only a
    re-exec, a new login or a reboot renews; ok when nothing does."""
    evidence = "\n".join(
        f"{name}: {', '.join(libs)}" for name, libs in libraries_by_unit(maps).items()
    )
    services = services_to_restart(maps)
    if services:
        libraries = sorted({m.library.rsplit("/", 1)[-1] for m in maps if m.unit in services})
        return fail(
            DELETED_ID,
            f"{', '.join(services)} still run{'s' if len(services) == 1 else ''} a deleted "
            f"library ({', '.join(libraries)}): the upgrade's fixes do not protect them yet",
            evidence,
            f"{RERUN} with 'restart the services' answered yes: its review lists "
            f"systemctl restart {' '.join(services)}; or run that yourself",
        )
    others = sorted({m.holder for m in maps}, key=list(Holder).index)
    if others:
        return warn(
            DELETED_ID,
            "no service to restart, but "
            + "; ".join(
                f"{', '.join(sorted({_name(m) for m in maps if m.holder is holder}))} "
                f"{'maps' if holder is Holder.INIT else 'map'} a deleted library"
                for holder in others
            ),
            evidence,
            "; ".join(HOLDER_HINTS[holder] for holder in others),
        )
    return ok(DELETED_ID, "no running process maps a deleted library", "(none in /proc/*/maps)")


def _name(m: DeletedMap) -> str:
    if m.holder is Holder.INIT:
        return "systemd (PID 1)"
    return m.unit if m.unit != "-" else f"{m.command} (pid {m.pid})"


@check(DELETED_ID)
def deleted_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """No running service maps a library an upgrade has deleted."""
    output = ctx.remote.run(script(DELETED_MAPS_SCRIPT, code("true"))).stdout
    return judge_deleted(parse_deleted_maps(output.splitlines()))


# --------------------------------------------------------------------- disk and inode use

USAGE_ID = "maintenance.usage"
# Filesystems with nothing on disk to fill (memory, kernel views) or always full by design
# (squashfs images, CD-ROMs).
PSEUDO = frozenset(
    {
        "tmpfs",
        "devtmpfs",
        "ramfs",
        "squashfs",
        "iso9660",
        "udf",
        "proc",
        "sysfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "efivarfs",
        "nsfs",
        "autofs",
        "fuse.lxcfs",
        "fuse.snapfuse",
        "overlay.tmpfs",
    }
)


# df's header, then the filesystems mounted on a directory: a file a container's manager binds
# in (nspawn's /run/host/os-release, Docker's /etc/hosts) shows the host's disk, not this one.
DIRECTORIES_ONLY = code(
    'directories_only() { IFS= read -r h; printf "%s\\n" "$h"; '
    'while IFS= read -r l; do if [ -d "${l#*% }" ]; then printf "%s\\n" "$l"; fi; done; }'
)


@dataclass(frozen=True)
class Usage:
    """One filesystem's use as `df -PT` (or `df -PTi`) prints it."""

    source: str
    type: str
    percent: int | None  # None: the filesystem keeps no count (btrfs inodes)
    mount: str


def parse_df(text: str) -> list[Usage]:
    """df -PT's lines (header skipped): source, type, sizes, `N%`, mount point (which may hold
    spaces); pseudo filesystems left out."""
    found = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 6)
        if len(parts) != 7 or parts[1] in PSEUDO:
            continue
        capacity = parts[5].removesuffix("%")
        percent = int(capacity) if capacity.isdigit() else None
        found.append(Usage(visible(parts[0]), parts[1], percent, visible(parts[6])))
    return found


def judge_usage(disk_text: str, inode_text: str, disk_max: int, inodes_max: int) -> CheckResult:
    """Every real filesystem's disk and inode use at most the thresholds."""
    disks = parse_df(disk_text)
    inodes = {u.mount: u.percent for u in parse_df(inode_text)}
    if not disks:
        return fail(
            USAGE_ID,
            "df showed no filesystem to check",
            (disk_text + "\n" + inode_text).strip()[-500:],
            "run df -PT on the server: the check needs its output",
        )
    lines, full, no_inodes = [], [], []
    for disk in disks:
        inode = inodes.get(disk.mount)
        lines.append(
            f"{disk.mount} ({disk.type}, {disk.source}): disk {disk.percent}%, inodes "
            + (f"{inode}%" if inode is not None else "not counted")
        )
        if disk.percent is not None and disk.percent > disk_max:
            full.append(f"{disk.mount} is {disk.percent}% full (threshold {disk_max}%)")
        if inode is not None and inode > inodes_max:
            no_inodes.append(f"{disk.mount} uses {inode}% of its inodes (threshold {inodes_max}%)")
    evidence = "\n".join(lines)
    if full or no_inodes:
        mounts = [p.split(" ", 1)[0] for p in full + no_inodes]
        where = mounts[0]
        hints = []
        if full:
            hints.append(
                f"see what fills it: du -xh --max-depth=2 {where} | sort -h | tail; old logs "
                "(journalctl --vacuum-size=200M) and packages (apt-get clean) go first"
            )
        if no_inodes:
            hints.append(
                f"find the folder of many small files (chapter 59): du --inodes -x "
                f"--max-depth=3 {where} | sort -n | tail (PHP sessions, a mail queue, a cache)"
            )
        hints.append("or raise the threshold in the maintenance step")
        return fail(USAGE_ID, "; ".join(full + no_inodes), evidence, "; ".join(hints))
    return ok(
        USAGE_ID,
        f"{len(disks)} filesystem{'s' if len(disks) != 1 else ''} under the thresholds "
        f"(disk {disk_max}%, inodes {inodes_max}%)",
        evidence,
    )


@check(USAGE_ID)
def usage_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Disk and inode use of every real filesystem at most the thresholds."""
    sections = run_sections(
        ctx,
        script(
            DIRECTORIES_ONLY,
            marker("DISK"),
            code("df -PT | directories_only"),
            marker("INODES"),
            code("df -PTi | directories_only; true"),
        ),
    )
    return judge_usage(
        sections.get("DISK", ""),
        sections.get("INODES", ""),
        int(params["disk_max"]),
        int(params["inodes_max"]),
    )


# --------------------------------------------------------------------- web root modes

WEB_ROOT_ID = "maintenance.web_root"
GROUP = "www-data"


def web_root_script(root: str, owner: str) -> Shell:
    """The entries below the web root whose mode, owner or group is not what the vhost step
    set, the first few of them and how many (the same test as the step's repair). A symbolic
    link's own owner and mode give no access (the wordpress step links its code in as root)."""
    strays = sh(
        "find {root} -xdev \\( -type d ! -perm 2750 -o -type f ! -perm 0640 -o ! -type l "
        "\\( ! -user {owner} -o ! -group {group} \\) \\) -printf '%m %u:%g %p\\n' 2>&1",
        root=root,
        owner=owner,
        group=GROUP,
    )
    return script(
        marker("TOP"),
        sh("stat -c '%a %U:%G %n' {root} 2>&1", root=root),
        marker("STRAYS"),
        sh("{strays} | head -n {shown}", strays=strays, shown=SHOWN),
        marker("COUNT"),
        sh("{strays} | wc -l", strays=strays),
    )


def judge_web_root(root: str, owner: str, top: str, strays: str, count: str) -> CheckResult:
    """Every directory 2750, every file 0640, all owner:www-data."""
    want = f"directories 2750, files 0640, {owner}:{GROUP}"
    lines = [visible(line) for line in strays.splitlines() if line.strip()]
    number = int(count.strip()) if count.strip().isdigit() else len(lines)
    evidence = "\n".join([visible(top.strip()), *lines])
    if "No such file" in top:
        return fail(
            WEB_ROOT_ID,
            f"{root} does not exist",
            evidence,
            "apply the vhost step again: it makes the web root",
        )
    if number:
        more = f" (the first {len(lines)} shown)" if number > len(lines) else ""
        return fail(
            WEB_ROOT_ID,
            f"{number} entr{'y' if number == 1 else 'ies'} of {root} not as the vhost step set "
            f"them ({want}){more}",
            evidence,
            f"{RERUN} (web root answered yes): it puts them back; a folder PHP must write to, "
            "like uploads, belongs to the application's step",
        )
    return ok(WEB_ROOT_ID, f"{root}: {want}", evidence)


@check(WEB_ROOT_ID)
def web_root_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The web root's modes and owner are the vhost step's (nothing to check without it)."""
    root, owner = str(params["root"]), str(params["owner"])
    if not root:
        return ok(WEB_ROOT_ID, "no web root to keep: the vhost step is not applied or not asked")
    if not safe_path(root):
        return fail(WEB_ROOT_ID, f"'{root}' is not a web root path", hint="a step bug")
    sections = run_sections(ctx, web_root_script(root, owner))
    return judge_web_root(
        root, owner, sections.get("TOP", ""), sections.get("STRAYS", ""), sections.get("COUNT", "")
    )
