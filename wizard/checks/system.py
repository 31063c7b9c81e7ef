"""Checks of the base system: host name, time zone, unattended upgrades and their security
source, pending upgrades, and the hardening the base step applies.

Each check is one round trip (a small script whose output is split at `@@NAME` markers) and a
pure judge that turns that output into a CheckResult, so the judges can be tested against the
output of a broken server.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping
from typing import Any

from wizard.aptsources import OWN_SOURCE, parse_sources, security_suite
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
from wizard.shell import code, script, sh

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
    return ok(
        cid,
        "unattended-upgrades runs daily (its security source: system.security_source)",
        evidence,
    )


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


# ------------------------------------------------------------------------ system.security_source

SECURITY_SOURCE_SCRIPT = script(
    marker("RELEASE"),
    code("grep -E '^(ID|VERSION_CODENAME|UBUNTU_CODENAME)=' /etc/os-release 2>/dev/null"),
    marker("PATTERNS"),
    code(
        "apt-config dump 2>/dev/null "
        "| grep -E '^Unattended-Upgrade::(Origins-Pattern|Allowed-Origins)'"
    ),
    marker("POLICY"),
    code("apt-cache policy 2>&1"),
    marker("SOURCES"),
    code(
        "grep -Hs '' /etc/apt/sources.list /etc/apt/sources.list.d/*.list "
        "/etc/apt/sources.list.d/*.sources"
    ),
    code("true"),
)
# unattended-upgrades' matcher keys (its match_whitelist_string), by the field apt-cache shows.
ORIGIN_KEYS = {
    "o": "o",
    "origin": "o",
    "l": "l",
    "label": "l",
    "a": "a",
    "suite": "a",
    "archive": "a",
    "c": "c",
    "component": "c",
    "n": "n",
    "codename": "n",
    "site": "site",
}


def grep_files(text: str) -> list[tuple[str, str]]:
    """`grep -H ''` output (path:line) as [(path, the file's text)], in the order printed."""
    files: dict[str, list[str]] = {}
    for line in text.splitlines():
        path, sep, rest = line.partition(":")
        if sep and path.startswith("/"):
            files.setdefault(path, []).append(rest)
    return [(path, "\n".join(lines)) for path, lines in files.items()]


def unattended_patterns(dump: str, distro_id: str, codename: str) -> list[str]:
    """unattended-upgrades' allowed origins as Origins-Pattern strings, variables substituted
    (an Allowed-Origins `id:suite` is `o=id,a=suite`, as unattended-upgrades reads it)."""
    patterns = []
    for name, value in apt_config_values_list(dump):
        if not value:
            continue
        value = value.replace("${distro_id}", distro_id).replace("${distro_codename}", codename)
        if name.startswith("Unattended-Upgrade::Allowed-Origins"):
            origin, sep, suite = value.partition(":")
            if not sep:
                origin, _, suite = value.partition(" ")
            value = f"o={origin.strip()},a={suite.strip()}"
        patterns.append(value)
    return patterns


def apt_config_values_list(dump: str) -> list[tuple[str, str]]:
    """`apt-config dump` lines as (name, value) in order (list entries repeat a name)."""
    values = []
    for line in dump.splitlines():
        match = re.match(r'^(\S+)\s+"(.*)";$', line.strip())
        if match:
            values.append((match.group(1), match.group(2)))
    return values


def policy_sources(policy: str) -> list[dict[str, str]]:
    """The package files of `apt-cache policy`: {"source": line, "site": host, o, a, n, l, c}."""
    sources: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in policy.splitlines():
        if line.startswith("Pinned packages"):
            break
        stripped = line.strip()
        if re.match(r"^-?\d+\s+\S", stripped):
            current = {"source": stripped.split(None, 1)[1]}
            sources.append(current)
        elif current is not None and stripped.startswith("release "):
            for field in stripped[len("release ") :].split(","):
                key, _, value = field.partition("=")
                current[key.strip()] = value.strip()
        elif current is not None and stripped.startswith("origin "):
            current["site"] = stripped[len("origin ") :].strip()
    return sources


def origin_matches(pattern: str, source: Mapping[str, str]) -> bool:
    """Whether an Origins-Pattern matches a package file, as unattended-upgrades decides it."""
    tokens = [token for token in pattern.replace("\\,", "\x00").split(",") if token.strip()]
    if not tokens:
        return False
    for token in tokens:
        key, _, value = token.replace("\x00", ",").partition("=")
        field = ORIGIN_KEYS.get(key.strip())
        if field is None or not fnmatch.fnmatchcase(source.get(field, ""), value.strip()):
            return False
    return True


def judge_security_source(
    release_text: str, dump: str, policy: str, sources_text: str
) -> CheckResult:
    """An origin unattended-upgrades allows for security matches a source apt has configured."""
    cid = "system.security_source"
    release = {
        key: value.strip().strip('"')
        for key, _, value in (line.partition("=") for line in release_text.splitlines())
    }
    codename = release.get("VERSION_CODENAME") or release.get("UBUNTU_CODENAME", "")
    distro_id = release.get("ID", "").capitalize()
    suite = security_suite(codename) if codename else "the security suite"
    patterns = [
        p for p in unattended_patterns(dump, distro_id, codename) if "security" in p.lower()
    ]
    sources = policy_sources(policy)
    listing = sorted(
        {entry.file for entry in parse_sources(grep_files(sources_text)) if suite in entry.suites}
    )
    evidence = "\n".join(
        ["unattended-upgrades allows (security): " + ("; ".join(patterns) or "none")]
        + ["apt's sources (apt-cache policy):"]
        + [
            f"  {s['source']} (o={s.get('o', '?')}, n={s.get('n', '?')}, l={s.get('l', '?')})"
            for s in sources
            if "o" in s
        ]
        + [f"files listing {suite}: " + (", ".join(listing) or "none")]
    )
    if not patterns:
        return fail(
            cid,
            "unattended-upgrades allows no security origin",
            evidence,
            f"{RERUN_BASE}; check Unattended-Upgrade::Origins-Pattern in "
            "/etc/apt/apt.conf.d/50unattended-upgrades",
        )
    matched = [s for s in sources if any(origin_matches(p, s) for p in patterns)]
    if not matched:
        where = (
            f"{', '.join(listing)} lists it but apt has not read it: sudo apt-get update"
            if listing
            else f"{RERUN_BASE}: it adds {OWN_SOURCE}"
        )
        return fail(
            cid,
            f"no apt source serves {suite}: unattended-upgrades would find no security update",
            evidence,
            where,
        )
    first = matched[0]
    shown = suite if suite in (first.get("n"), first.get("a")) else first.get("n", suite)
    return ok(cid, f"security updates come from {first['source'].split()[0]} {shown}", evidence)


@check("system.security_source")
def security_source_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """unattended-upgrades has a security source to install from."""
    sections = run_sections(ctx, SECURITY_SOURCE_SCRIPT)
    return judge_security_source(
        sections.get("RELEASE", ""),
        sections.get("PATTERNS", ""),
        sections.get("POLICY", ""),
        sections.get("SOURCES", ""),
    )


# ----------------------------------------------------------------------------- system.core_dumps

SUID_DUMPABLE = "/proc/sys/fs/suid_dumpable"
CORE_DUMPS_SCRIPT = script(
    marker("LIMITS"),
    code("grep -Hs '' /etc/security/limits.conf /etc/security/limits.d/*.conf"),
    marker("COREDUMP"),
    code("systemd-analyze cat-config systemd/coredump.conf 2>/dev/null"),
    marker("SYSCTL"),
    code("systemd-analyze cat-config sysctl.d 2>/dev/null"),
    marker("RUNTIME"),
    sh(
        "cat {f} 2>/dev/null; if [ -w {f} ]; then echo writable; else echo read-only; fi",
        f=SUID_DUMPABLE,
    ),
    code("true"),
)


def core_limit(limits_text: str, domain: str) -> str:
    """The hard core limit pam_limits gives `domain` (* or root): the last line setting it."""
    value = ""
    for _, text in grep_files(limits_text):
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if fields[:1] == [domain] and fields[1:3] in (["hard", "core"], ["-", "core"]):
                value = fields[3] if len(fields) == 4 else value
    return value


def last_setting(cat_config: str, name: str, section: str = "") -> str:
    """The last `name=value` of `systemd-analyze cat-config` output (in `[section]` if given)."""
    value, current = "", ""
    for line in cat_config.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        key, sep, rest = line.partition("=")
        if sep and key.strip().lstrip("-") == name and (not section or current == section):
            value = rest.strip()
    return value


def judge_core_dumps(limits: str, coredump: str, sysctl: str, runtime: str) -> CheckResult:
    """Core limits 0 for all and root, systemd-coredump stores nothing, fs.suid_dumpable 0."""
    cid = "system.core_dumps"
    everyone, root = core_limit(limits, "*"), core_limit(limits, "root")
    storage = last_setting(coredump, "Storage", "Coredump") or "external (default)"
    configured = last_setting(sysctl, "fs.suid_dumpable") or "(unset)"
    runtime_lines = runtime.split()
    now = runtime_lines[0] if runtime_lines else "?"
    writable = runtime_lines[-1:] == ["writable"]
    evidence = (
        f"hard core limit: * {everyone or '(unset)'}, root {root or '(unset)'} "
        "(/etc/security/limits.conf, limits.d)\n"
        f"systemd-coredump Storage: {storage}\n"
        f"fs.suid_dumpable: {now} now, {configured} in sysctl.d"
        + ("" if writable else " (read-only here: set by the host)")
    )
    problems = []
    if everyone != "0" or root != "0":
        problems.append("core dumps are not limited to 0 for every user and root")
    if storage != "none":
        problems.append(f"systemd-coredump stores dumps (Storage={storage})")
    if configured != "0":
        problems.append(f"fs.suid_dumpable is {configured} in sysctl.d, not 0")
    elif now != "0" and writable:
        problems.append(f"fs.suid_dumpable is {now} now: the setting is not applied")
    if problems:
        return fail(cid, "; ".join(problems), evidence, f"{RERUN_BASE}: it writes the three files")
    if now != "0":
        return warn(
            cid,
            f"fs.suid_dumpable is {now}, set by the host (a container cannot change it)",
            evidence,
            "ask the provider, or run the server in a VM of its own",
        )
    return ok(cid, "core dumps are off", evidence)


@check("system.core_dumps")
def core_dumps_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """No process writes its memory to disk when it crashes."""
    sections = run_sections(ctx, CORE_DUMPS_SCRIPT)
    return judge_core_dumps(
        sections.get("LIMITS", ""),
        sections.get("COREDUMP", ""),
        sections.get("SYSCTL", ""),
        sections.get("RUNTIME", ""),
    )


# ----------------------------------------------------------------------------- system.umask

UMASK_SCRIPT = script(
    marker("LOGINDEFS"),
    code("grep -E '^[[:space:]]*UMASK[[:space:]]' /etc/login.defs 2>/dev/null"),
    marker("SHELL"),
    # A login shell reads /etc/profile and /etc/profile.d; a HOME of none keeps root's out.
    code("HOME=/nonexistent sh -l -c umask 2>/dev/null | tail -n 1"),
    code("true"),
)
WANTED_UMASK = 0o027


def restrictive(umask: str) -> bool:
    """An octal umask that takes at least group write and all of other's permissions away."""
    umask = umask.strip()
    return bool(re.fullmatch(r"[0-7]{1,4}", umask)) and int(umask, 8) & WANTED_UMASK == WANTED_UMASK


def judge_umask(login_defs: str, shell_umask: str) -> CheckResult:
    """UMASK in /etc/login.defs and a login shell's umask are 027 or stricter."""
    cid = "system.umask"
    lines = login_defs.strip().splitlines()
    defs = lines[-1].split()[1] if lines and len(lines[-1].split()) > 1 else ""
    shell_umask = shell_umask.strip()
    evidence = (
        f"/etc/login.defs UMASK: {defs or '(unset)'}\n"
        f"umask of a login shell: {shell_umask or '(unknown)'}"
    )
    loose = [
        what
        for what, value in (("/etc/login.defs UMASK", defs), ("a login shell's umask", shell_umask))
        if not restrictive(value)
    ]
    if loose:
        return fail(
            cid,
            ", ".join(loose) + " lets others read new files (want 027)",
            evidence,
            f"{RERUN_BASE}: it sets UMASK 027 in /etc/login.defs and writes "
            "/etc/profile.d/vps-wizard-umask.sh",
        )
    return ok(cid, f"new files are not readable by others (umask {shell_umask})", evidence)


@check("system.umask")
def umask_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """New files are not readable by other users."""
    sections = run_sections(ctx, UMASK_SCRIPT)
    return judge_umask(sections.get("LOGINDEFS", ""), sections.get("SHELL", ""))


# ------------------------------------------------------------------------- system.unused_modules

# Also in templates/base/modprobe-blacklist.conf.j2 (a unit test holds them equal).
UNUSED_MODULES = (
    "dccp",
    "sctp",
    "rds",
    "tipc",
    "cramfs",
    "freevxfs",
    "jffs2",
    "hfs",
    "hfsplus",
    "usb-storage",
    "firewire-core",
)
# modprobe's order: a file in an earlier directory hides one of the same name in a later one.
MODPROBE_DIRS = (
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
)
MODULES_SCRIPT = code(
    "grep -Hs '' /etc/modprobe.d/*.conf /run/modprobe.d/*.conf /usr/local/lib/modprobe.d/*.conf "
    "/usr/lib/modprobe.d/*.conf /lib/modprobe.d/*.conf; true"
)
NO_LOAD = ("false", "true")


def module_name(name: str) -> str:
    """modprobe treats - and _ in module names alike."""
    return name.replace("-", "_")


def not_loadable(config: str) -> set[str]:
    """Modules whose every `install` line of modprobe.d runs /bin/false or /bin/true."""
    seen: set[str] = set()
    commands: dict[str, list[str]] = {}
    for path, text in grep_files(config):
        name = path.rsplit("/", 1)[-1]
        if name in seen:
            continue
        seen.add(name)
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 3 and fields[0] == "install":
                commands.setdefault(module_name(fields[1]), []).append(fields[2])
    return {
        module
        for module, runs in commands.items()
        if all(run.rsplit("/", 1)[-1] in NO_LOAD for run in runs)
    }


def judge_unused_modules(config: str) -> CheckResult:
    """Each unused protocol or file system module is made unloadable in modprobe.d."""
    cid = "system.unused_modules"
    blocked = not_loadable(config)
    loadable = [m for m in UNUSED_MODULES if module_name(m) not in blocked]
    evidence = (
        "not loadable: "
        + (", ".join(m for m in UNUSED_MODULES if m not in loadable) or "none")
        + "\nloadable: "
        + (", ".join(loadable) or "none")
    )
    if loadable:
        return fail(
            cid,
            "modules a server does not use can be loaded: " + ", ".join(loadable),
            evidence,
            f"{RERUN_BASE}: it writes /etc/modprobe.d/vps-wizard-blacklist.conf "
            "(`install MODULE /bin/false`)",
        )
    return ok(cid, f"{len(UNUSED_MODULES)} unused protocols and file systems cannot load", evidence)


@check("system.unused_modules")
def unused_modules_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Unused network protocols and file systems cannot be loaded."""
    return judge_unused_modules(ctx.remote.run_script(MODULES_SCRIPT).stdout)


# ----------------------------------------------------------------------------- system.login_banner

BANNER_FILES = ("/etc/issue", "/etc/issue.net")
BANNER_SCRIPT = code("grep -Hs '' /etc/issue /etc/issue.net; true")
# agetty's escapes for the system's name, release and version.
OS_ESCAPES = re.compile(r"\\[srvmoS]")
OS_NAMES = re.compile(r"debian|ubuntu|gnu/linux|\blinux\b", re.IGNORECASE)


def judge_login_banner(grep_output: str) -> CheckResult:
    """/etc/issue and /etc/issue.net warn against unauthorized use and do not name the OS."""
    cid = "system.login_banner"
    files = dict(grep_files(grep_output))
    problems, evidence = [], []
    for path in BANNER_FILES:
        text = files.get(path, "")
        first = text.strip().splitlines()[0] if text.strip() else "(missing or empty)"
        evidence.append(f"{path}: {first}")
        if not text.strip():
            problems.append(f"{path} is missing or empty")
        elif OS_ESCAPES.search(text) or OS_NAMES.search(text):
            problems.append(f"{path} tells the operating system")
        elif not re.search(r"authori[sz]ed", text, re.IGNORECASE):
            problems.append(f"{path} gives no warning against unauthorized use")
    if problems:
        return fail(
            cid,
            "; ".join(problems),
            "\n".join(evidence),
            f"{RERUN_BASE}: it writes both files with a warning and no version",
        )
    return ok(cid, "the login banner warns and names no OS", "\n".join(evidence))


@check("system.login_banner")
def login_banner_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The login banners warn and give nothing away."""
    return judge_login_banner(ctx.remote.run_script(BANNER_SCRIPT).stdout)


# ----------------------------------------------------------------------------- system.sudo_log

SUDO_LOG_SCRIPT = code("sudo -V 2>&1 | grep -i -e '^sudo version' -e '^path to log file'; true")


def judge_sudo_log(sudo_v: str) -> CheckResult:
    """sudo writes a log file of its own (`Defaults logfile`)."""
    cid = "system.sudo_log"
    lines = sudo_v.strip().splitlines()
    logfile = next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("path to log")),
        "",
    )
    evidence = "\n".join(lines) or "sudo -V printed nothing"
    if not any(line.lower().startswith("sudo version") for line in lines):
        return fail(cid, "sudo is not installed", evidence, f"{RERUN_BASE}: it installs sudo")
    if not logfile:
        return fail(
            cid,
            "sudo keeps no log of its own: its use is only in the journal",
            evidence,
            f"{RERUN_BASE}: it writes /etc/sudoers.d/60-vps-wizard-log",
        )
    return ok(cid, f"every use of sudo is logged to {logfile}", evidence)


@check("system.sudo_log")
def sudo_log_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The use of sudo is logged."""
    return judge_sudo_log(ctx.remote.run_script(SUDO_LOG_SCRIPT).stdout)


# ----------------------------------------------------------------------------- system.config_modes

ROOT_ONLY = (
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/etc/cron.yearly",
    "/etc/ssh/sshd_config",
)
CONFIG_MODES_SCRIPT = sh("stat -c '%a %n' {paths} 2>/dev/null; true", paths=ROOT_ONLY)


def judge_config_modes(stat_output: str) -> CheckResult:
    """cron's files and directories and sshd_config give nothing to group or others."""
    cid = "system.config_modes"
    modes = {}
    for line in stat_output.splitlines():
        mode, _, path = line.strip().partition(" ")
        if path in ROOT_ONLY and re.fullmatch(r"[0-7]{3,4}", mode):
            modes[path] = mode
    evidence = "\n".join(f"{mode} {path}" for path, mode in modes.items()) or "none of them exists"
    open_to_others = [path for path, mode in modes.items() if int(mode, 8) & 0o077]
    if open_to_others:
        return fail(
            cid,
            "readable by others: " + ", ".join(open_to_others),
            evidence,
            f"{RERUN_BASE}, or now: sudo chmod go-rwx " + " ".join(open_to_others),
        )
    return ok(cid, "cron's and sshd's configuration is root's only", evidence)


@check("system.config_modes")
def config_modes_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """cron and sshd configuration is private to root."""
    return judge_config_modes(ctx.remote.run_script(CONFIG_MODES_SCRIPT).stdout)
