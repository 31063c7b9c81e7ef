"""Checks of the base system: host name, time zone, unattended upgrades, pending upgrades.

Each check is one round trip (a small script whose output is split at `@@NAME` markers) and a
pure judge that turns that output into a CheckResult, so the judges can be tested against the
output of a broken server.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
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
from wizard.shell import code, script

RERUN_BASE = "run the base step again"


# ----------------------------------------------------------------------------- system.hostname

HOSTNAME_SCRIPT = script(
    marker("FQDN"),
    code("hostname -f 2>&1"),
    marker("SHORT"),
    code("hostname 2>&1"),
    marker("HOSTS"),
    code("cat /etc/hosts 2>&1"),
)


def hosts_names(hosts_text: str) -> dict[str, str]:
    """The names /etc/hosts maps, each to its address (the first line naming it wins)."""
    names: dict[str, str] = {}
    for line in hosts_text.splitlines():
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            names.setdefault(name.lower().rstrip("."), fields[0])
    return names


def judge_hostname(fqdn: str, seen_fqdn: str, seen_short: str, hosts_text: str) -> CheckResult:
    """`hostname -f` is the FQDN, `hostname` its first label, and /etc/hosts maps the FQDN."""
    cid = "system.hostname"
    want = fqdn.lower().rstrip(".")
    short = want.split(".")[0]
    seen_fqdn, seen_short = seen_fqdn.strip(), seen_short.strip()
    mapped = hosts_names(hosts_text)
    evidence = (
        f"hostname -f: {seen_fqdn or '(nothing)'}\nhostname: {seen_short or '(nothing)'}\n"
        f"/etc/hosts maps {want}: {mapped.get(want, 'no')}"
    )
    if want not in mapped:
        return fail(
            cid,
            f"/etc/hosts does not map {want}",
            evidence,
            f"{RERUN_BASE}: it writes /etc/hosts. If cloud-init rewrites the file at boot, set "
            "manage_etc_hosts: false in /etc/cloud/cloud.cfg.",
        )
    if seen_short.lower() != short:
        return fail(
            cid,
            f"the host name is '{seen_short}', not '{short}'",
            evidence,
            f"{RERUN_BASE}, or set it now: sudo hostnamectl set-hostname {shlex.quote(short)}",
        )
    if seen_fqdn.lower().rstrip(".") != want:
        return fail(
            cid,
            f"hostname -f answers '{seen_fqdn}', not '{want}'",
            evidence,
            f"{RERUN_BASE}; the line of /etc/hosts naming {want} must list it before {short}.",
        )
    return ok(cid, f"the host name is {want}", evidence)


@check("system.hostname")
def hostname_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The server answers to its fully qualified name."""
    sections = run_sections(ctx, HOSTNAME_SCRIPT)
    return judge_hostname(
        str(params["fqdn"]),
        sections.get("FQDN", ""),
        sections.get("SHORT", ""),
        sections.get("HOSTS", ""),
    )


# ----------------------------------------------------------------------------- system.timezone

# timedatectl needs systemd-timedated; /etc/timezone covers systems without it.
TIMEZONE_SCRIPT = code(
    'tz=$(timedatectl show -p Timezone --value 2>/dev/null); [ -n "$tz" ] || '
    'tz=$(cat /etc/timezone 2>/dev/null); echo "$tz"'
)


def judge_timezone(timezone: str, seen: str) -> CheckResult:
    """The server's time zone is the one asked for."""
    cid = "system.timezone"
    seen = seen.strip()
    evidence = f"time zone: {seen or '(none found)'}"
    if seen != timezone:
        return fail(
            cid,
            f"the time zone is '{seen}', not '{timezone}'",
            evidence,
            f"{RERUN_BASE}, or set it now: sudo timedatectl set-timezone {shlex.quote(timezone)}",
        )
    return ok(cid, f"the time zone is {timezone}", evidence)


@check("system.timezone")
def timezone_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The server runs in the chosen time zone."""
    return judge_timezone(str(params["timezone"]), ctx.remote.run_script(TIMEZONE_SCRIPT).stdout)


# ----------------------------------------------------------------- system.unattended_upgrades

UNATTENDED_SCRIPT = script(
    marker("PACKAGE"),
    code("dpkg-query -W -f='${db:Status-Abbrev}' unattended-upgrades 2>&1"),
    marker("APT"),
    code("apt-config dump 2>&1 | grep '^APT::Periodic::'"),
    marker("TIMER"),
    code("systemctl is-enabled apt-daily-upgrade.timer 2>&1"),
    code("true"),
)
PERIODIC_OPTIONS = ("APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade")


def apt_config_values(dump: str) -> dict[str, str]:
    """`apt-config dump` lines (`Name "value";`) as {Name: value}."""
    values: dict[str, str] = {}
    for line in dump.splitlines():
        match = re.match(r'^(\S+)\s+"(.*)";$', line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def periodic_enabled(value: str) -> bool:
    """An APT::Periodic value is an interval in days ("always" is allowed); 0 or unset is off."""
    return value == "always" or (value.isdigit() and int(value) >= 1)


def judge_unattended(package_status: str, apt_dump: str, timer_state: str) -> CheckResult:
    """unattended-upgrades is installed, switched on in APT::Periodic, and its timer enabled."""
    cid = "system.unattended_upgrades"
    values = apt_config_values(apt_dump)
    timer_state = timer_state.strip().splitlines()[-1] if timer_state.strip() else ""
    evidence = "\n".join(
        [f"unattended-upgrades: {package_status.strip() or 'not installed'}"]
        + [f'{name} "{values.get(name, "(unset)")}"' for name in PERIODIC_OPTIONS]
        + [f"apt-daily-upgrade.timer: {timer_state or '(unknown)'}"]
    )
    if not package_status.strip().startswith("ii"):
        return fail(
            cid,
            "unattended-upgrades is not installed",
            evidence,
            f"{RERUN_BASE}, or install it now: sudo apt-get install unattended-upgrades",
        )
    off = [name for name in PERIODIC_OPTIONS if not periodic_enabled(values.get(name, ""))]
    if off:
        return fail(
            cid,
            "automatic upgrades are switched off: " + ", ".join(off),
            evidence,
            f"{RERUN_BASE}: it writes /etc/apt/apt.conf.d/20auto-upgrades. A later file in "
            "/etc/apt/apt.conf.d may set the value back to 0: grep -r Periodic /etc/apt/apt.conf.d",
        )
    if timer_state != "enabled":
        return fail(
            cid,
            f"apt-daily-upgrade.timer is {timer_state or 'unknown'}, not enabled",
            evidence,
            "sudo systemctl enable --now apt-daily-upgrade.timer apt-daily.timer",
        )
    return ok(cid, "security upgrades install themselves daily", evidence)


@check("system.unattended_upgrades")
def unattended_upgrades_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Security upgrades are installed automatically."""
    sections = run_sections(ctx, UNATTENDED_SCRIPT)
    return judge_unattended(
        sections.get("PACKAGE", ""), sections.get("APT", ""), sections.get("TIMER", "")
    )


# ----------------------------------------------------------------------------- system.upgraded

# Debug::NoLocking lets the simulation run while apt-daily holds the lock.
UPGRADED_SCRIPT = script(
    marker("SIMULATION"),
    code("apt-get -s -o Debug::NoLocking=1 full-upgrade 2>&1"),
    code("rc=$?"),
    marker("RC"),
    code('echo "$rc"'),
    marker("REBOOT"),
    code(
        "if [ -f /var/run/reboot-required ]; then echo yes; "
        "cat /var/run/reboot-required.pkgs 2>/dev/null; fi"
    ),
    code("true"),
)
SHOWN_PACKAGES = 10


def judge_upgraded(simulation: str, exit_code: int, reboot: str) -> CheckResult:
    """No upgrade is pending (warn with the count if some are) and no reboot is required."""
    cid = "system.upgraded"
    if exit_code != 0:
        return fail(
            cid,
            "apt-get could not plan an upgrade",
            simulation.strip()[-1500:] or f"apt-get -s full-upgrade exited {exit_code}",
            "read the apt error above; `sudo apt-get -f install` repairs broken dependencies, "
            "then run the base step again",
        )
    pending = [line.split()[1] for line in simulation.splitlines() if line.startswith("Inst ")]
    reboot_lines = reboot.strip().splitlines()
    needs_reboot = bool(reboot_lines) and reboot_lines[0] == "yes"
    problems, evidence, hints = [], [], []
    if pending:
        problems.append(f"{len(pending)} upgrade{'s' if len(pending) > 1 else ''} pending")
        shown = ", ".join(pending[:SHOWN_PACKAGES])
        more = f" and {len(pending) - SHOWN_PACKAGES} more" if len(pending) > SHOWN_PACKAGES else ""
        evidence.append(f"pending: {shown}{more}")
        hints.append(
            "run the base step again with a full upgrade, or: "
            "sudo apt-get update && sudo apt-get full-upgrade"
        )
    if needs_reboot:
        problems.append("a reboot is required")
        packages = ", ".join(reboot_lines[1:]) or "(not listed)"
        evidence.append(f"/var/run/reboot-required exists; packages: {packages}")
        hints.append("reboot when convenient (sudo systemctl reboot) so the fixes take effect")
    if problems:
        return warn(cid, "; ".join(problems), "\n".join(evidence), "; ".join(hints))
    return ok(cid, "the system is up to date", "no pending upgrade, no reboot required")


@check("system.upgraded")
def upgraded_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Every package is current and no reboot is waiting."""
    sections = run_sections(ctx, UPGRADED_SCRIPT)
    return judge_upgraded(
        sections.get("SIMULATION", ""),
        exit_code(sections.get("RC", "")),
        sections.get("REBOOT", ""),
    )
