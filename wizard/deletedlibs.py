"""Processes still running an old copy of a shared library, and the services they belong to.

An upgrade replaces a library by writing the new file and renaming it over the old one: the
programs already running keep the old inode mapped, and /proc/PID/maps shows its path followed
by " (deleted)". They go on running the old code (an OpenSSL fix does not protect them) until
they are restarted. The series' libssl article listed them with lsof; one grep over every
process's maps does the same without lsof, in a few milliseconds.

The facts gather the list on connect (the maintenance step's plan restarts exactly the services
it shows) and the maintenance.deleted_libraries check reads it again at verify.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from wizard.shell import Shell, code
from wizard.visible import visible

# One line per process and deleted library: PID, unit, library, command name (tab-separated).
# The unit is the last part of the process's systemd cgroup (cgroup v2 "0::", or v1's
# name=systemd hierarchy). Capped: after a libc upgrade every process maps a deleted file.
DELETED_MAPS_SCRIPT: Shell = code(
    r"""grep -s -H -o -E ' /[^ ]*\.so(\.[^ /]*)? \(deleted\)$' /proc/[0-9]*/maps | awk '
{ split($1, parts, "/"); pid = parts[3]; lib = $2; key = pid " " lib
  if (pid == "" || seen[key]++) next
  unit = ""; cg = "/proc/" pid "/cgroup"
  while ((getline line < cg) > 0)
    if (line ~ /^0::/ || line ~ /name=systemd:/) { n = split(line, p, "/"); unit = p[n] }
  close(cg)
  comm = ""; cf = "/proc/" pid "/comm"; getline comm < cf; close(cf)
  printf "%s\t%s\t%s\t%s\n", pid, (unit == "" ? "-" : unit), lib, comm
  if (++shown >= 400) exit
}'"""
)

# What a unit name may be before it reaches systemctl (a word of systemd's own alphabet).
UNIT_NAME = re.compile(r"[A-Za-z0-9@._:\\-]+\.(service|scope)")
LIBRARY_PATH = re.compile(r"/[A-Za-z0-9._+@/-]+")
# Services a restart would harm, after needrestart's own list (its override_rc): the message
# bus (systemd and logind talk through it), logind and the consoles (their users' sessions
# end), a user's own manager, the network (the way in to a remote server), one-shot jobs that
# are not running for long, and the wizard's own apply in progress.
NEVER_RESTARTED = re.compile(
    r"(dbus.*|systemd-logind|elogind|(serial-|container-|console-)?getty(@.*)?|user@.*"
    r"|network.*|systemd-networkd|NetworkManager|wpa_supplicant|openvpn.*|.*swan.*"
    r"|emergency|rescue|rc-local|apt-daily.*|unattended-upgrades|cron-.*"
    r"|docker|containerd|libvirt.*|lxcfs|vps-wizard-apply-.*)\.service"
)


class Holder(enum.StrEnum):
    """Who runs a process, which says how it is brought onto the new library."""

    SERVICE = "service"  # a system service: restarted by the maintenance step on a yes
    KEPT = "kept"  # a service a restart would harm: restarted by hand or by a reboot
    INIT = "init"  # PID 1: systemctl daemon-reexec
    SESSION = "session"  # a login session or anything else: it ends when the user logs out


@dataclass(frozen=True)
class DeletedMap:
    """One process and one deleted library it maps."""

    pid: int
    unit: str
    library: str
    command: str

    @property
    def holder(self) -> Holder:
        """Who holds the process (and so what brings it onto the new library)."""
        if self.pid == 1 or self.unit == "init.scope":
            return Holder.INIT
        if not self.unit.endswith(".service"):
            return Holder.SESSION
        if NEVER_RESTARTED.fullmatch(self.unit):
            return Holder.KEPT
        return Holder.SERVICE


def parse_deleted_maps(lines: Iterable[str]) -> tuple[DeletedMap, ...]:
    """The script's `PID<TAB>UNIT<TAB>LIBRARY<TAB>COMMAND` lines; any other line is skipped
    (a unit name or path with characters systemd or the loader would not give is not trusted
    to reach a command)."""
    found = []
    for line in lines:
        parts = line.rstrip("\n").split("\t", 3)
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        pid, unit, library, command = parts
        if unit != "-" and not UNIT_NAME.fullmatch(unit):
            unit = "-"
        if not LIBRARY_PATH.fullmatch(library):
            continue
        found.append(DeletedMap(int(pid), unit, library, visible(command.strip())))
    return tuple(found)


def services_to_restart(maps: Iterable[DeletedMap]) -> tuple[str, ...]:
    """The system services mapping a deleted library that a restart brings onto the new one,
    each once, sorted."""
    return tuple(sorted({m.unit for m in maps if m.holder is Holder.SERVICE}))


def libraries_by_unit(maps: Iterable[DeletedMap]) -> dict[str, list[str]]:
    """Each unit (or process, outside a unit) with the deleted libraries it maps, sorted."""
    found: dict[str, set[str]] = {}
    for m in maps:
        name = m.unit if m.unit != "-" else f"{m.command} (pid {m.pid})"
        found.setdefault(name, set()).add(m.library)
    return {name: sorted(libs) for name, libs in sorted(found.items())}
