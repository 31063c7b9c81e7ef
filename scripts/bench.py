"""Measure what the issues ask, on pristine test hosts:

    scripts/bench.py [--quick] [--tools ...] [--no-large]
                             the reference change set (issue 13) written by a Paramiko
                             floor, vps-wizard, pyinfra and ansible-core behind a 52 ms
                             relay: a Markdown table (scripts/bench_reference.py)
    scripts/bench.py day-one the five day-one steps headless, direct and over a 50 ms link,
                             round trips per step and phase, the command to the TUI's first
                             screen
    scripts/bench.py steps   the web steps (tls from Pebble) and the DNS and mail steps,
                             each group applied headless step by step, then verified: wall
                             time of the verify against its slowest check

    scripts/bench.py verify  the day-one series applied (not timed), then `verify` of all of
                             it, 5 times, direct and over a 52 ms link: wall time against the
                             slowest check plus one connect (issue 13)
    scripts/bench.py series [REV]
                             every step of scripts/bench_series.toml in one `apply --yes` on
                             one pristine host, against a floor on another (one apt-get
                             install of the union, the same files, commands and reloads):
                             wall time, apt transactions and apt time, round trips, channels;
                             REV measures that commit's wizard (scripts/bench_series.py)

Run as root, from the repository: scripts/bench [day-one|steps|verify|series] (installs the
bench extra).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wizard.testhost.machine import boot, write_known_hosts
from wizard.testhost.relay import DelayRelay

REPO = Path(__file__).resolve().parents[1]
STEPS = ("base", "admin-user", "ssh-hardening", "firewall", "fail2ban")
# Its own answers: the tests' quick.toml holds test-only steps the CLI would refuse.
ANSWERS = REPO / "scripts" / "bench_day_one.toml"


def cli(home: Path, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the wizard's CLI with this benchmark's laptop files."""
    argv = [sys.executable, "-m", "wizard.cli", *args, "-i", str(key)]
    argv += ["--known-hosts", str(home / "known_hosts"), "--state", str(home / "state.db")]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)


def day_one(address: str, port: int, key: Path, home: Path) -> dict[str, object]:
    """Apply the five steps one by one; wall time and round trips per step and phase."""
    rows = {}
    started = time.monotonic()
    for index, step in enumerate(STEPS):
        user = "root@" if index < 3 else ""
        target = f"{user}{address}:{port}"
        step_started = time.monotonic()
        result = cli(
            home,
            key,
            "apply",
            target,
            "--answers",
            str(ANSWERS),
            "--step",
            step,
            "--yes",
            "--json",
            "--stats",
        )
        if result.returncode != 0:
            raise SystemExit(f"{step} failed:\n{result.stdout}\n{result.stderr}")
        stats = json.loads(result.stderr.strip().splitlines()[-1])["stats"]
        rows[step] = {
            "seconds": round(time.monotonic() - step_started, 2),
            "round_trips": {phase: int(v["round_trips"]) for phase, v in stats.items()},
        }
    return {"total_seconds": round(time.monotonic() - started, 2), "steps": rows}


WEB_STEPS = ("web", "database", "vhost", "tls", "hsts")
DNS_MAIL_STEPS = ("dns-zone", "dnssec", "mail", "mail-auth", "dane")


def timed_group(target: str, key: Path, home: Path, steps: tuple[str, ...], answers: Path) -> dict:
    """Apply the steps one by one (with their follow-ups), then verify them together."""
    applied = {}
    started = time.monotonic()
    for step in steps:
        step_started = time.monotonic()
        args = ("apply", target, "--answers", str(answers), "--step", step, "--yes", "--json")
        result = cli(home, key, *args, "--stats")
        if result.returncode != 0:
            raise SystemExit(f"{step} failed:\n{result.stdout}\n{result.stderr}")
        applied[step] = round(time.monotonic() - step_started, 2)
    apply_seconds = round(time.monotonic() - started, 2)
    verify_started = time.monotonic()
    result = cli(home, key, "verify", target, "--json", *(a for s in steps for a in ("--step", s)))
    verify_seconds = round(time.monotonic() - verify_started, 2)
    checks = [c for results in json.loads(result.stdout)["steps"].values() for c in results]
    slowest = max(checks, key=lambda c: c["seconds"])
    return {
        "apply_seconds": apply_seconds,
        "per_step": applied,
        "verify_seconds": verify_seconds,
        "checks": len(checks),
        "not_ok": [c["check"] for c in checks if c["status"] != "ok"],
        "slowest_check": f"{slowest['check']} {slowest['seconds']} s",
    }


def steps_report() -> dict:
    """Day one (not timed), dns-zone's BIND for the test domain, Pebble, then both groups."""
    from tests.host.acme import DOMAIN, PEBBLE, start_pebble
    from tests.host.dnsparent import ParentZone

    host = boot("bench", 9)
    home = Path(tempfile.mkdtemp(prefix="vw-bench-"))
    parent = ParentZone(host)
    try:
        write_known_hosts(host, home / "known_hosts", [(host.address, 22)])
        key = host.root_key_path
        answers = home / "answers.toml"
        answers.write_text(
            ANSWERS.read_text() + f'\n[web]\nserver = "nginx"\n\n[vhost]\ndomain = "{DOMAIN}"\n\n'
            f'[tls]\nsource = "acme"\nacme_server = "https://localhost:14000/dir"\n'
            f'email = "admin@{DOMAIN}"\nacme_ca_bundle = "{PEBBLE}/tls-ca.pem"\n'
            f'ca_file = "{PEBBLE}/root.pem"\n\n[hsts]\n\n'
            f'[dns-zone]\ndomain = "{DOMAIN}"\nparent_resolver = "{host.gateway}"\n\n'
            '[mail]\nmailboxes = "postmaster"\npassword = "correct horse battery"\n'
        )
        for step in (*STEPS, "dns-zone"):
            target = f"root@{host.address}" if step in STEPS[:3] else host.address
            result = cli(
                home, key, "apply", target, "--answers", str(answers), "--step", step, "--yes"
            )
            if result.returncode != 0:
                raise SystemExit(f"{step} failed:\n{result.stdout}\n{result.stderr}")
        parent.delegate([f"{DOMAIN}. IN NS ns1.{DOMAIN}.", f"ns1.{DOMAIN}. IN A {host.address}"])
        start_pebble(host)
        web = timed_group(host.address, key, home, WEB_STEPS, answers)
        dns_mail = timed_group(host.address, key, home, DNS_MAIL_STEPS, answers)
        return {"web steps": web, "dns and mail steps (dns-zone applied before)": dns_mail}
    finally:
        parent.stop()
        host.stop()
        shutil.rmtree(home, ignore_errors=True)


def first_screen_seconds(address: str, key: Path, home: Path) -> float:
    """Seconds from typing the command in a terminal to the TUI's first drawn screen."""
    session = "vw-bench"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
    command = (
        f"{sys.executable} -m vps_wizard tui root@{address} -i {key} "
        f"--known-hosts {home / 'known_hosts'} --state {home / 'state.db'}"
    )
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "80",
            "-y",
            "24",
            "-c",
            str(REPO),
            "bash --norc",
        ],
        check=True,
    )
    time.sleep(0.5)
    started = time.monotonic()
    subprocess.run(["tmux", "send-keys", "-t", session, command, "Enter"], check=True)
    try:
        while time.monotonic() - started < 20:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            drawn = "vps-wizard" in screen and command[:20] not in screen.splitlines()[-1]
            if drawn and any(word in screen for word in ("Connect", "Steps", "steps", "Trust")):
                return round(time.monotonic() - started, 3)
            time.sleep(0.01)
        return float("nan")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def main() -> None:
    """Boot two pristine hosts in turn and print the report."""
    report = {}
    for label, delay in (("direct", 0.0), ("50 ms round trip", 0.05)):
        host = boot("bench", 9)
        home = Path(tempfile.mkdtemp(prefix="vw-bench-"))
        try:
            address, port = host.address, 22
            relay = None
            if delay:
                relay = DelayRelay(host.address, 22, delay_s=delay)
                address, port = relay.start()
            write_known_hosts(host, home / "known_hosts", [(address, port)])
            if not delay:
                report["first screen (s)"] = first_screen_seconds(address, host.root_key_path, home)
            report[label] = day_one(address, port, host.root_key_path, home)
            if relay:
                relay.stop()
        finally:
            host.stop()
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(report, indent=1))


def verify_report(repeats: int = 5) -> dict[str, object]:
    """The day-one series' full verify against its slowest check plus one connect.

    `connect` is the SSH handshake and login as --stats times it; `slowest` the longest check
    as the verify reports it; `start-up` what the command spends before it connects (Python
    and the catalog, measured as the wall time of `vps-wizard steps`). Medians of `repeats`.
    """
    import statistics

    # A name and subnet of its own: it runs beside the reference benchmark's "bench" host.
    host = boot("benchvfy", 48)
    home = Path(tempfile.mkdtemp(prefix="vw-bench-"))
    report: dict[str, object] = {}
    try:
        write_known_hosts(host, home / "known_hosts", [(host.address, 22)])
        key = host.root_key_path
        answers = ANSWERS
        for index, step in enumerate(STEPS):
            target = f"root@{host.address}" if index < 3 else host.address
            args = ("apply", target, "--answers", str(answers), "--step", step, "--yes")
            result = cli(home, key, *args)
            if result.returncode != 0:
                raise SystemExit(f"{step} failed:\n{result.stdout}\n{result.stderr}")
        startup = []
        for _ in range(repeats):
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "wizard.cli", "steps"], capture_output=True, cwd=REPO
            )
            startup.append(time.monotonic() - started)
        for label, delay in (("direct", 0.0), ("52 ms round trip", 0.052)):
            relay = None
            address, port = host.address, 22
            if delay:
                relay = DelayRelay(host.address, 22, delay_s=delay)
                address, port = relay.start()
                write_known_hosts(host, home / "known_hosts", [(address, port)])
            rows = []
            try:
                for _ in range(repeats):
                    steps = [a for s in STEPS for a in ("--step", s)]
                    started = time.monotonic()
                    result = cli(
                        home, key, "verify", f"admin@{address}:{port}", *steps, "--json", "--stats"
                    )
                    wall = time.monotonic() - started
                    if not result.stdout.strip():
                        raise SystemExit(f"verify failed:\n{result.stderr}")
                    checks = [c for r in json.loads(result.stdout)["steps"].values() for c in r]
                    stats = json.loads(result.stderr.strip().splitlines()[-1])["stats"]
                    slowest = max(checks, key=lambda c: c["seconds"])
                    rows.append(
                        {
                            "wall": wall,
                            "slowest": slowest["seconds"],
                            "slowest_check": slowest["check"],
                            "connect": stats["connect"]["seconds"],
                            "facts": stats.get("facts", {}).get("seconds", 0.0),
                            "verify": stats.get("verify", {}).get("seconds", 0.0),
                            "state": stats.get("state", {}).get("seconds", 0.0),
                            "checks": len(checks),
                            "not_ok": [c["check"] for c in checks if c["status"] != "ok"],
                        }
                    )
            finally:
                if relay:
                    relay.stop()
            median = {
                k: round(statistics.median(r[k] for r in rows), 3)
                for k in ("wall", "slowest", "connect", "facts", "verify", "state")
            }
            median["start-up"] = round(statistics.median(startup), 3)
            median["slowest + connect"] = round(median["slowest"] + median["connect"], 3)
            median["ratio"] = round(median["wall"] / median["slowest + connect"], 2)
            report[label] = {
                "median": median,
                "checks": rows[0]["checks"],
                "slowest checks": sorted({str(r["slowest_check"]) for r in rows}),
                "not ok": sorted({c for r in rows for c in r["not_ok"]}),
                "walls": [round(float(r["wall"]), 2) for r in rows],
            }
    finally:
        host.stop()
        shutil.rmtree(home, ignore_errors=True)
    return report


if __name__ == "__main__":
    if sys.argv[1:] == ["verify"]:
        print(json.dumps(verify_report(), indent=1))
    elif sys.argv[1:] == ["steps"]:
        print(json.dumps(steps_report(), indent=1))
    elif sys.argv[1:] == ["day-one"]:
        main()
    elif sys.argv[1:2] == ["series"]:
        sys.path.insert(0, str(REPO / "scripts"))
        from bench_series import main as series

        series(sys.argv[2:])
    else:
        sys.path.insert(0, str(REPO / "scripts"))
        from bench_reference import main as reference

        reference()
