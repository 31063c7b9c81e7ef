"""The whole-series benchmark of issue 13: every step of scripts/bench_series.toml applied by one
`vps-wizard apply --yes` on one pristine test host (A), against a floor on a second pristine
host (B) booted at the same address after A is stopped (so the two never share the 2 cores,
and the files that hold the address are the same bytes).

Both connect directly (no delay relay: the web, mail and DNS checks probe the address the
wizard connected to, which a relay on the loopback does not forward).

The floor (one Paramiko connection, 2 channels): every file the engine writes (the bytes,
mode and owner its plans give: a follow-up's final bytes, a secret file's content), uploaded
by pipelined SFTP, then one exec: one `apt-get install` of the union of the series' packages
(the plans' missing packages and the packages their commands install: nginx for web's server
choice, the waf's modules), then step by step what the engine does after its own apt: the
step's `before` commands (skipped by their own guards, as the engine skips them), its files
put in place with their mode and owner, its services enabled, its handlers run, its `after`
commands. It skips what makes the wizard safe and resumable: the journal, backups,
validation, the lockout guard's confirmation, the settle waits, the manifest, the checks.

Two floors, each on a fresh B: the plain one (apt starts each daemon with its package's
defaults, the steps restart them), and one that holds every daemon back during the install
with a policy-rc.d answering 101, as the engine does since 8b373a4, and starts what it held
at the end (the steps' enables and handlers start most of them first).

The plans (what each step would do) come from the engine's own preview, read on B before the
floor is timed. Afterwards every file of A's manifest must have the same bytes, mode and
owner on B.

Reported: wall time of each, their ratio, the apt transactions each ran (history.log's
Start-Date entries) and the time apt spent (its Start/End dates, 1 s resolution), the round
trips after login and the channels (the wizard's from --stats, the floor's by construction),
and the wizard's phases from --stats.

    scripts/bench series [REV]  (root, from the repository; scripts/bench.py calls main())

With REV (a commit, say HEAD), the wizard measured is that commit's code (git archive, run
with PYTHONPATH), not the working tree: other work in progress in the tree is left out. The
step catalog is the working tree's in both cases (the editable install maps it).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench_floor import STAGED, upload

from wizard.shell import Shell, code, script, sh
from wizard.testhost.machine import TestHost

REPO = Path(__file__).resolve().parents[1]
# The code measured: a git archive of the commit asked for (set by main() for its child run),
# or the working tree.
TREE = Path(os.environ.get("VPS_WIZARD_BENCH_TREE") or REPO)
ANSWERS = REPO / "scripts" / "bench_series.toml"
# A name and subnet of its own: it runs beside the other benchmarks' hosts (bench 9 and 47,
# benchvfy 48) and the test suite's slots (16-31, 64-127).
HOST_NAME = "benchser"
SUBNET = 46
# The floor's round trips after login, counted as --stats counts them (a channel open and an
# exec or subsystem reply are one each): the SFTP channel (open, subsystem, version), its
# mkdir, the pipelined opens, the pipelined writes and closes, the exec channel (open, exec).
FLOOR_ROUND_TRIPS = 8
FLOOR_CHANNELS = 2
STAGING = "/root/.vw-floor"
# Files whose bytes differ between the two hosts by design: the admin's key is the key the
# wizard logs in with (the default answer), and each boot has its own.
PER_HOST = {"/home/admin/.ssh/authorized_keys"}
APT_HISTORY = "/var/log/apt/history.log"
DATE_FORMAT = "%Y-%m-%d  %H:%M:%S"

# `apt-get [options] install [options] PACKAGES`, up to the end of that shell command.
APT_INSTALL = re.compile(r"\bapt-get\b[^;&|\n]*?\binstall\b([^;&|<>\n]*)")


# ----------------------------------------------------------------- pure logic (unit tested)


def apt_installs(command: str) -> tuple[str, ...]:
    """The packages a shell command installs with apt-get (options and redirections left out)."""
    found: list[str] = []
    for match in APT_INSTALL.finditer(command):
        found += [w for w in match.group(1).split() if not w.startswith("-") and "=" not in w]
    return tuple(found)


def package_union(steps: Iterable[tuple[Sequence[str], Sequence[str]]]) -> tuple[str, ...]:
    """Every package of the series once, in the order the steps name them: each step is its
    missing packages and its commands (whose `apt-get install` lines count too)."""
    union: dict[str, None] = {}
    for packages, commands in steps:
        union.update(dict.fromkeys(packages))
        for command in commands:
            union.update(dict.fromkeys(apt_installs(command)))
    return tuple(union)


@dataclass(frozen=True)
class AptRun:
    """One apt transaction of /var/log/apt/history.log."""

    command: str
    seconds: float


def apt_runs(history: str) -> list[AptRun]:
    """The transactions of an apt history log, in order (a run without its End-Date, still
    going or killed, counts 0 s)."""
    runs: list[AptRun] = []
    for entry in history.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in entry.strip().splitlines() if ": " in line)
        if "Start-Date" not in fields:
            continue
        start = datetime.strptime(fields["Start-Date"].strip(), DATE_FORMAT)
        end = fields.get("End-Date")
        seconds = (
            (datetime.strptime(end.strip(), DATE_FORMAT) - start).total_seconds() if end else 0
        )
        runs.append(AptRun(fields.get("Commandline", "").strip(), seconds))
    return runs


def manifest_paths(text: str) -> list[str]:
    """The paths of the server's manifest (`sha256sum` lines), in its order."""
    return [line.split(None, 1)[1].lstrip("*") for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------- host side


@dataclass(frozen=True)
class ServerFile:
    """A file the wizard wrote on A: bytes, mode and owner as found there."""

    path: str
    data: bytes
    mode: int
    owner: str
    group: str


@dataclass(frozen=True)
class Side:
    """What one side of the benchmark did."""

    seconds: float
    apt: list[AptRun]
    round_trips: int
    channels: int
    phases: dict[str, dict[str, float]]
    # The machine's 1-minute load average as the side started (2 cores shared with others).
    load: float


def read_files(host: TestHost, paths: Sequence[str]) -> dict[str, ServerFile]:
    """The files at `paths` on a test host, read from inside it (tar, base64)."""
    out = host.exec(
        "tar -C / -cf - --files-from=- | base64 -w0",
        input="".join(p.lstrip("/") + "\n" for p in paths),
        timeout=120,
    ).stdout
    files = {}
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(out))) as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            path = "/" + member.name
            files[path] = ServerFile(
                path, handle.read(), member.mode & 0o7777, member.uname, member.gname
            )
    return files


def apt_history(host: TestHost) -> str:
    return host.exec(f"cat {APT_HISTORY} 2>/dev/null; true").stdout


def open_ipv4_conf(host: TestHost) -> None:
    """The container's own net.ipv4.conf made writable, as on a VM (kernel-hardening sets it);
    the rest of /proc/sys stays the host's (the step warns about those keys)."""
    host.exec(
        "mount --bind /proc/sys/net/ipv4/conf /proc/sys/net/ipv4/conf && "
        "mount -o remount,bind,rw /proc/sys/net/ipv4/conf"
    )


def wizard_side(home: Path) -> tuple[Side, dict[str, ServerFile], dict[str, object]]:
    """Host A: the whole series by one `apply --yes`; what it wrote, as found afterwards."""
    from wizard.testhost.machine import boot, write_known_hosts

    host = boot(HOST_NAME, SUBNET)
    try:
        open_ipv4_conf(host)
        known_hosts = write_known_hosts(host, home / "known_hosts-a", [(host.address, 22)])
        before = len(apt_runs(apt_history(host)))
        argv = [sys.executable, "-m", "wizard.cli", "apply", f"root@{host.address}"]
        argv += ["--answers", str(ANSWERS), "--yes", "--json", "--stats"]
        argv += ["-i", str(host.root_key_path), "--known-hosts", str(known_hosts)]
        argv += ["--state", str(home / "state-a.db")]
        load = os.getloadavg()[0]
        started = time.monotonic()
        # From TREE: `-m` puts the working folder first on the module path.
        result = subprocess.run(argv, capture_output=True, text=True, cwd=TREE, check=False)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(
                f"the series' apply failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                f"{result.stderr[-4000:]}"
            )
        stats = json.loads(result.stderr.strip().splitlines()[-1])["stats"]
        report = json.loads(result.stdout)
        not_ok = sorted(
            f"{c['check']} ({c['status']})"
            for step in report["steps"]
            for c in step["checks"]
            if c["status"] != "ok"
        )
        paths = manifest_paths(host.exec("cat /var/lib/vps-wizard/files.sha256").stdout)
        files = read_files(host, paths)
        side = Side(
            seconds,
            apt_runs(apt_history(host))[before:],
            sum(int(v.get("round_trips", 0)) for k, v in stats.items() if k != "connect"),
            sum(int(p.get("channels", 0)) for p in stats.values()),
            {
                k: {"s": float(v.get("seconds", 0)), "rt": int(v.get("round_trips", 0))}
                for k, v in stats.items()
            },
            load,
        )
        extra = {"steps": [s["step"] for s in report["steps"]], "checks not ok": not_ok}
        return side, files, extra
    finally:
        host.stop()


@dataclass(frozen=True)
class FloorStep:
    """What the floor does for one step after the series' apt: shell lines and its files."""

    step_id: str
    before: tuple[Shell, ...]
    after: tuple[Shell, ...]
    files: tuple[str, ...]
    enable: tuple[str, ...]
    handlers: tuple[Shell, ...]


def floor_plan(
    address: str, key: Path, known_hosts: Path, home: Path
) -> tuple[tuple[str, ...], list[FloorStep], dict[str, ServerFile]]:
    """The engine's preview of the series on B (pristine, read only): per step, its commands
    with their guards, files, services and handlers; the package union; and each file as
    the engine writes it (the last plan's bytes: a follow-up's; the spec's mode and owner).
    A's own copies are not what the engine wrote when a command rewrote one afterwards (the
    mailbox password file is marked used)."""
    from wizard.answerfile import read_answers_file, selected_steps
    from wizard.apply import handler_command
    from wizard.catalog import load_catalog
    from wizard.endpoint import ConnectOptions, Credentials, Stats, Target
    from wizard.plan import Plan, guard_test
    from wizard.preview import preview
    from wizard.session import Session
    from wizard.state import StateStore

    catalog = load_catalog()
    answers = read_answers_file(ANSWERS)
    options = ConnectOptions(
        target=Target(address, "root", None),
        credentials=Credentials(str(key)),
        known_hosts=known_hosts,
    )
    session = Session.open(catalog, StateStore(home / "state-b.db"), options, Stats())
    try:
        steps = selected_steps(catalog, [], answers)
        planned = preview(session, [(s, answers.for_step(s)) for s in steps])
    finally:
        session.close()
    plans = [item.plan for item in planned]
    packages = package_union((p.missing_packages, [c.run for c in p.commands]) for p in plans)
    written: set[str] = set()
    contents = {
        f.dest: ServerFile(f.dest, f.new, int(f.spec.mode, 8), f.spec.owner, f.spec.group)
        for plan in plans
        for f in plan.changed_files
    }
    floor_steps = []
    for plan in plans:

        def lines(stage: str, plan: Plan = plan) -> tuple[Shell, ...]:
            return tuple(
                # As the engine runs it: in a subshell (an `exit 0` ends the command only),
                # without errexit (its status is the last line's), skipped by its guard.
                sh(
                    "if ! {{ {skip}; }}; then\n(\n{command}\n) || fail {what}\nfi",
                    skip=guard_test(c.creates, c.unless),
                    command=c.run,
                    what=f"{plan.step.id}: {c.run.splitlines()[0][:60]}",
                )
                for c in plan.commands
                # apt-get lines are the union's: the floor installs once.
                if c.command.stage == stage and not apt_installs(c.run)
            )

        files = tuple(f.dest for f in plan.changed_files if f.dest not in written)
        written.update(files)
        floor_steps.append(
            FloorStep(
                plan.step.id,
                lines("before"),
                lines("after"),
                files,
                tuple(plan.services_to_enable),
                tuple(
                    sh(
                        "{handler} || fail {what}",
                        handler=handler_command(s, a),
                        what=f"{plan.step.id}: {a} {s}",
                    )
                    for s, a in plan.handlers().items()
                ),
            )
        )
    return packages, floor_steps, contents


# The held floor's policy-rc.d: every start a maintainer script asks for is refused (101,
# "not now") and its unit written down, as the engine's whole-run install does since 8b373a4.
HELD = "/run/vw-floor-held"  # written out in POLICY_RC_D
POLICY_RC_D = code(
    "printf '%s\\n' '#!/bin/sh' "
    '\'while [ "${1#--}" != "$1" ]; do shift; done\' '
    '\'case "$2" in start|restart) echo "$1" >> /run/vw-floor-held;; esac\' '
    "'exit 101' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d"
)


def floor_script(
    packages: Sequence[str],
    steps: Sequence[FloorStep],
    files: dict[str, ServerFile],
    held: bool = False,
) -> Shell:
    """The floor's one exec: apt once, then each step's commands, files, services. `held`:
    no daemon starts during the install (policy-rc.d); the steps' own enables and handlers
    start theirs, and the end starts every held unit still stopped."""
    # upload() writes each file to its name plus STAGED.
    staged = {path: f"{STAGING}/{index}{STAGED}" for index, path in enumerate(files)}
    install = sh(
        "apt-get -o DPkg::Lock::Timeout=600 -q -y install {packages} >/dev/null || fail apt",
        packages=list(packages),
    )
    lines = [
        code('fail() { echo "floor: $1 failed" >&2; exit 1; }'),
        code("export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a"),
    ]
    if held:
        lines += [POLICY_RC_D, install, code("rm -f /usr/sbin/policy-rc.d")]
    else:
        lines.append(install)
    placed: set[str] = set()

    def place(path: str) -> None:
        f = files[path]
        lines.append(
            sh(
                "mkdir -p {folder} && mv -f {staged} {path} && chown {owner} {path} && "
                "chmod {mode} {path} || fail {path}",
                folder=path.rsplit("/", 1)[0] or "/",
                staged=staged[path],
                path=path,
                owner=f"{f.owner}:{f.group}",
                mode=f"{f.mode:04o}",
            )
        )
        placed.add(path)

    for step in steps:
        lines.append(sh("echo {marker}", marker=f"@@ {step.step_id}"))
        lines += step.before
        for path in step.files:
            if path in files and path not in placed:
                place(path)
        lines += [
            sh("systemctl enable --now {unit} || fail {unit}", unit=unit) for unit in step.enable
        ]
        lines += step.handlers
        lines += step.after
    for path in files:
        if path not in placed:
            place(path)
    if held:
        lines.append(
            sh(
                # A socket whose service runs already cannot be started (the port is its).
                "for u in $(sort -u {held} 2>/dev/null); do case $u in *.socket) continue;; "
                "esac; systemctl -q is-active $u || systemctl start $u || fail $u; done",
                held=HELD,
            )
        )
    lines.append(sh("rm -rf {staging}", staging=STAGING))
    return script(*lines)


def floor_side(
    files: dict[str, ServerFile], home: Path, held: bool
) -> tuple[Side, dict[str, object]]:
    """Host B: the floor, timed from connect to close; then its files compared with A's."""
    import paramiko

    from wizard.testhost.machine import boot, write_known_hosts

    host = boot(HOST_NAME, SUBNET)
    try:
        open_ipv4_conf(host)
        known_hosts = write_known_hosts(host, home / "known_hosts-b", [(host.address, 22)])
        packages, steps, written = floor_plan(host.address, host.root_key_path, known_hosts, home)
        commands = floor_script(packages, steps, written, held)
        before = len(apt_runs(apt_history(host)))
        load = os.getloadavg()[0]
        started = time.monotonic()
        client = paramiko.SSHClient()
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            host.address,
            22,
            "root",
            key_filename=str(host.root_key_path),
            allow_agent=False,
            look_for_keys=False,
        )
        sftp = client.open_sftp()
        sftp.mkdir(STAGING, 0o700)
        upload(sftp, {f"{STAGING}/{i}": f.data for i, f in enumerate(written.values())})
        _, stdout, stderr = client.exec_command(commands)
        out = stdout.read().decode()
        err = stderr.read().decode()
        status = stdout.channel.recv_exit_status()
        client.close()
        seconds = time.monotonic() - started
        if status != 0:
            raise SystemExit(f"the floor failed ({status}):\n{out[-3000:]}\n{err[-3000:]}")
        got = read_files(host, list(files))
        differ = sorted(p for p, f in files.items() if p not in PER_HOST and got.get(p) != f)
        apt = apt_runs(apt_history(host))[before:]
        side = Side(seconds, apt, FLOOR_ROUND_TRIPS, FLOOR_CHANNELS, {}, load)
        extra = {
            "packages": list(packages),
            "files (A's manifest, the floor's)": [len(files), len(written)],
            "files that differ from A (bytes, mode or owner)": differ,
            "not compared (each host's own login key)": sorted(PER_HOST),
            "failed units": host.exec(
                "systemctl --failed --plain --no-legend | awk '{print $1}'"
            ).stdout.split(),
        }
        return side, extra
    finally:
        host.stop()


def table(wizard: Side, floors: dict[str, Side]) -> str:
    """The Markdown table: the wizard (its ratio to each floor) and the floors."""

    def apt_seconds(side: Side) -> float:
        return sum(run.seconds for run in side.apt)

    sides = [wizard, *floors.values()]
    ratios = " / ".join(f"{wizard.seconds / f.seconds:.2f}x" for f in floors.values())
    rows = [
        ["wall time", f"{wizard.seconds:.1f} s ({ratios})"]
        + [f"{f.seconds:.1f} s" for f in floors.values()],
        ["apt transactions"] + [str(len(side.apt)) for side in sides],
        ["apt time (history.log)"] + [f"{apt_seconds(side):.0f} s" for side in sides],
        ["the rest (wall - apt)"] + [f"{side.seconds - apt_seconds(side):.1f} s" for side in sides],
        ["round trips after login", str(wizard.round_trips)]
        + [f"{f.round_trips} (by design)" for f in floors.values()],
        ["channels"] + [str(side.channels) for side in sides],
        ["load (1 min) at its start"] + [f"{side.load:.2f}" for side in sides],
    ]
    lines = [
        "| | vps-wizard apply --yes | " + " | ".join(floors) + " |",
        "| --- " * (len(sides) + 1) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def code_label() -> str:
    """Which code is measured: the commit asked for, or HEAD and whether the engine's files
    have changes not committed."""
    import wizard

    label = os.environ.get("VPS_WIZARD_BENCH_REV", "")
    if label:
        return f"commit {label} (git archive, {Path(wizard.__file__).parent})"
    head = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "wizard"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return f"working tree at {head}" + (" with uncommitted changes in wizard/" if dirty else "")


def run_commit(rev: str) -> int:
    """This benchmark run again on a git archive of `rev` (the wizard package from there)."""
    label = subprocess.run(
        ["git", "log", "-1", "--format=%h %s", rev],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    ).stdout.strip()
    tree = Path(tempfile.mkdtemp(prefix="vw-bench-tree-"))
    try:
        archive = subprocess.run(
            ["git", "archive", rev], capture_output=True, cwd=REPO, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "VPS_WIZARD_BENCH_TREE": str(tree),
            "VPS_WIZARD_BENCH_REV": label,
        }
        return subprocess.run([sys.executable, __file__], env=env, cwd=tree).returncode
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def main(argv: Sequence[str] = ()) -> None:
    if argv:
        raise SystemExit(run_commit(argv[0]))
    home = Path(tempfile.mkdtemp(prefix="vw-bench-series-"))
    try:
        started = time.monotonic()
        wizard, files, wizard_extra = wizard_side(home)
        floor, floor_extra = floor_side(files, home, held=False)
        held, held_extra = floor_side(files, home, held=True)
        floors = {"floor": floor, "floor, daemons held during apt": held}
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"# whole series: {len(wizard_extra['steps'])} steps applied, direct link (no delay)")
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {load}")
        print(f"# {code_label()}; {time.monotonic() - started:.0f} s in all\n")
        print(table(wizard, floors))
        print("\nvps-wizard's apt transactions:")
        for run in wizard.apt:
            print(f"  {run.seconds:4.0f} s  {run.command}")
        for name, side in floors.items():
            print(f"{name}:")
            for run in side.apt:
                print(f"  {run.seconds:4.0f} s  {run.command[:100]}...")
        print("\nvps-wizard --stats phases (seconds, round trips):")
        print(
            "  " + ", ".join(f"{k} {v['s']:.2f} s {v['rt']} rt" for k, v in wizard.phases.items())
        )
        print(json.dumps({**wizard_extra, "floor": floor_extra, "held": held_extra}, indent=1))
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
