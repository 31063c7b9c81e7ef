"""The ipv6 step's outside check: every TCP port answers on the server's IPv6 address exactly as
on its IPv4 address.

The firewall's table is inet (one rule set for both families), so what differs between the two
is most often a service listening on 0.0.0.0 only (refused on IPv6), or a rule written for one
family. The ports probed are those listening on the server (ss), those the firewall opens, and
a few that nothing opens; each is probed from the wizard's machine on both addresses at once.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wizard.checks.base import CheckContext, CheckResult, check, fail, ok, warn
from wizard.probes.sshconfig import server_host
from wizard.probes.tcp import TcpState, probe_tcp
from wizard.shell import code
from wizard.visible import visible

CHECK_ID = "ipv6.services"
TIMEOUT = 2.0
LISTENING_SCRIPT = code("ss -H -l -t -n -p 2>/dev/null || ss -H -l -t -n")
_PROCESS = re.compile(r'users:\(\("([^"]*)"')
# Ports nothing opens, probed to show that the IPv6 address opens no more than the IPv4 one.
CLOSED_CANDIDATES = (81, 8443, 31337)


def tcp_ports(entries: Iterable[str]) -> set[int]:
    """The TCP port numbers of 'N/proto' entries (tcp when no protocol is given)."""
    found = set()
    for entry in entries:
        number, _, proto = str(entry).partition("/")
        if (proto or "tcp") == "tcp" and number.isdigit():
            found.add(int(number))
    return found


@dataclass(frozen=True)
class Listener:
    """A TCP socket listening on the server, on an address others can reach."""

    port: int
    address: str  # as ss shows it: 0.0.0.0, *, ::, or one address
    process: str = ""

    @property
    def family(self) -> str:
        """What it listens on: IPv4, IPv6, or both (the wildcard *)."""
        if self.address == "*":
            return "IPv4 and IPv6"
        return "IPv6" if ":" in self.address else "IPv4"


def parse_listeners(text: str) -> list[Listener]:
    """The listening sockets of `ss -Hltn(p)` reachable from outside: loopback and link-local
    addresses left out (nothing outside reaches them)."""
    found: list[Listener] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] != "LISTEN":
            continue
        host, _, port = fields[3].rpartition(":")
        host = host.strip("[]").split("%", 1)[0]
        if not port.isdigit():
            continue
        if host not in ("*", "0.0.0.0", "::"):
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                continue
            if address.is_loopback or address.is_link_local:
                continue
        process = _PROCESS.search(line)
        found.append(Listener(int(port), host, process.group(1) if process else ""))
    return found


@dataclass(frozen=True)
class PortSeen:
    """One port as seen from outside on each family's address."""

    port: int
    ipv4: TcpState
    ipv6: TcpState
    detail: str = ""

    @property
    def alike(self) -> bool:
        """Whether both addresses answered the same way (open, refused or silent)."""
        return self.ipv4 == self.ipv6


def _who(port: int, listeners: Sequence[Listener]) -> str:
    """What listens on the port, as evidence: 'sshd on IPv4 and IPv6'."""
    parts = [
        f"{visible(each.process) or 'a process'} on {each.family} ({each.address})"
        for each in listeners
        if each.port == port
    ]
    return ", ".join(dict.fromkeys(parts)) or "nothing listens"


def _one_family(port: int, listeners: Sequence[Listener]) -> bool:
    """Whether what listens on the port listens on IPv4 only or on IPv6 only."""
    families = {each.family for each in listeners if each.port == port}
    return bool(families) and "IPv4 and IPv6" not in families and len(families) == 1


def judge_services(
    ipv4: str, ipv6: str, seen: Sequence[PortSeen], listeners: Sequence[Listener]
) -> CheckResult:
    """Each port answers on the IPv6 address as on the IPv4 one (open, refused or filtered
    alike); a port open on one family only fails, naming what listens where."""
    listening = sorted({each.port for each in listeners})
    evidence = "\n".join(
        [
            f"IPv4 {ipv4}: " + ", ".join(f"{p.port}/tcp {p.ipv4}" for p in seen),
            f"IPv6 {ipv6}: " + ", ".join(f"{p.port}/tcp {p.ipv6}" for p in seen),
            "listening on the server: "
            + (
                "; ".join(f"{port}/tcp {_who(port, listeners)}" for port in listening)
                or "nothing reachable from outside"
            ),
        ]
    )
    if any(p.ipv6 == "unreachable" for p in seen) and all(
        p.ipv6 in ("unreachable", "filtered") for p in seen
    ):
        detail = next(p.detail for p in seen if p.ipv6 == "unreachable")
        return warn(
            CHECK_ID,
            f"IPv6 {ipv6} could not be reached from this machine",
            f"{evidence}\n{detail}",
            "this machine may have no IPv6 route (ask the network you are on); verify again "
            f"from one that has, or probe by hand: nc -6 -vz -w 2 {ipv6} 22",
        )
    differ = [p for p in seen if not p.alike]
    if differ:
        problems = [
            f"{p.port}/tcp is {p.ipv4} on IPv4 but {p.ipv6} on IPv6 ({_who(p.port, listeners)})"
            for p in differ
        ]
        hints = []
        # A service bound to one family's addresses: the other family's connection is refused
        # (or, behind a drop, silent as well).
        if any(_one_family(p.port, listeners) for p in differ):
            hints.append(
                "make the services listen on IPv6 too (nginx: listen [::]:PORT; Apache: Listen "
                "PORT without an address; a daemon bound to 0.0.0.0: bind it to :: or to both), "
                "then restart them"
            )
        # Silent on one family only: a rule lets that family in and not the other.
        if any("filtered" in (p.ipv4, p.ipv6) for p in differ):
            hints.append(
                "the firewall treats the two families differently: look for a rule of one family "
                "(ip saddr/daddr, ip6 saddr/daddr, meta nfproto) in sudo nft list ruleset; the "
                "firewall step's table is inet and opens each port for both"
            )
        hints = hints or [
            "compare what listens on these ports (sudo ss -ltnp) with the firewall's rules for "
            "them (sudo nft list ruleset)"
        ]
        return fail(CHECK_ID, "; ".join(problems), evidence, "; ".join(hints))
    opened = [f"{p.port}/tcp" for p in seen if p.ipv4 == "open"]
    return ok(
        CHECK_ID,
        f"IPv6 {ipv6} answers as IPv4 {ipv4} does: "
        + (", ".join(opened) + " open on both" if opened else "no port open on either")
        + ", the other ports probed closed on both",
        evidence,
    )


def probe_both(ipv4: str, ipv6: str, ports: Iterable[int]) -> list[PortSeen]:
    """Every port on both addresses at once: the whole probe takes one timeout."""
    ports = sorted(set(ports))
    plan = [(address, port) for port in ports for address in (ipv4, ipv6)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(32, len(plan)))) as pool:
        results = list(pool.map(lambda job: probe_tcp(job[0], job[1], TIMEOUT), plan))
    seen = []
    for index, port in enumerate(ports):
        (state4, detail4), (state6, detail6) = results[2 * index], results[2 * index + 1]
        seen.append(PortSeen(port, state4, state6, detail6 or detail4))
    return seen


def _server_ipv4(host: str) -> str:
    """The IPv4 address the wizard reaches the server on (its name resolved), or empty."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return ""
    return str(infos[0][4][0]) if infos else ""


@check(CHECK_ID)
def services_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, each TCP port answers on the IPv6 address as on IPv4, and no other."""
    ipv6 = str(params["address"])
    ipv4 = _server_ipv4(server_host(ctx.address))
    if not ipv4:
        return warn(
            CHECK_ID,
            "not compared: the wizard reaches the server by no IPv4 address",
            f"{ctx.address} resolves to no IPv4 address here",
            "run verify from a machine that reaches the server's IPv4 address",
        )
    if ipaddress.ip_address(ipv4).is_loopback:
        # A local port forward or tunnel: a probe would test the forward, not the server.
        return warn(
            CHECK_ID,
            "not compared: the wizard reaches the server through a local forward",
            f"{ctx.address} is a loopback address",
            "run verify from a machine that reaches the server's own addresses",
        )
    listeners = parse_listeners(ctx.remote.run(LISTENING_SCRIPT).stdout)
    ports = {each.port for each in listeners} | tcp_ports(params.get("open") or ())
    ports |= set(CLOSED_CANDIDATES) - ports
    return judge_services(ipv4, ipv6, probe_both(ipv4, ipv6, ports), listeners)
