"""Checks of the firewall: the ruleset as loaded, and an outside-in scan of its ports.

The scan runs from the wizard's machine with plain sockets, on IPv4 and on every IPv6 address
of the server, because a rule missing for one family only shows up from the outside.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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
from wizard.probes.sshconfig import server_host
from wizard.probes.tcp import (
    ANSWERS,
    SILENT_TRIES,
    TcpState,
    probe_tcp,
    server_addresses,
    silence_waits,
)
from wizard.shell import code, script, sh

RERUN_FIREWALL = "run the firewall step again"
TABLE = "inet vpswizard"

# ----------------------------------------------------------------------------- firewall.active

ACTIVE_SCRIPT = script(
    marker("TABLE"),
    sh("nft list table {table} 2>&1", table=TABLE.split()),
    code("rc=$?"),
    marker("RC"),
    code('echo "$rc"'),
    marker("ENABLED"),
    code("systemctl is-enabled nftables 2>&1"),
    code("true"),
)
CHAIN_LINES_SHOWN = 8
NOT_FOUND = 127  # the shell's exit status for "command not found"


def input_chain(listing: str) -> list[str]:
    """The lines of the table's `chain input { ... }` block (without the braces)."""
    lines: list[str] = []
    inside = False
    for line in listing.splitlines():
        text = line.strip()
        if not inside:
            inside = text == "chain input {"
        elif text == "}":
            break
        elif text:
            lines.append(text)
    return lines


def judge_active(listing: str, exit_code: int, enabled: str) -> CheckResult:
    """Our table is loaded, its input chain drops by default, and nftables starts at boot."""
    cid = "firewall.active"
    enabled = enabled.strip().splitlines()[-1] if enabled.strip() else "(unknown)"
    if exit_code == NOT_FOUND:
        return fail(
            cid,
            "nftables is not installed",
            listing.strip()[-300:] or "nft: command not found",
            f"{RERUN_FIREWALL}: it installs nftables and loads the ruleset",
        )
    if exit_code != 0:
        return fail(
            cid,
            f"the firewall table {TABLE} is not loaded",
            listing.strip()[-500:] or f"nft exited {exit_code}",
            f"{RERUN_FIREWALL}, or load it now: sudo systemctl restart nftables "
            "(sudo nft -c -f /etc/nftables.conf shows a syntax error)",
        )
    chain = input_chain(listing)
    evidence = "\n".join(
        ["chain input:", *chain[:CHAIN_LINES_SHOWN], f"nftables.service: {enabled}"]
    )
    hook = next((line for line in chain if "hook input" in line), "")
    if not hook:
        return fail(
            cid,
            f"the table {TABLE} has no input chain",
            evidence,
            f"{RERUN_FIREWALL}: /etc/nftables.conf may have been edited by hand",
        )
    if "policy drop" not in hook:
        return fail(
            cid,
            "the input chain does not drop by default",
            evidence,
            f"{RERUN_FIREWALL}; it sets 'policy drop' on the input chain",
        )
    if enabled != "enabled":
        return fail(
            cid,
            f"nftables.service is {enabled}: the firewall would be gone after a reboot",
            evidence,
            "sudo systemctl enable nftables",
        )
    return ok(cid, "the firewall is active and drops by default", evidence)


@check("firewall.active")
def active_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Our nftables table is loaded with a default-drop input chain, and persists."""
    sections = run_sections(ctx, ACTIVE_SCRIPT)
    return judge_active(
        sections.get("TABLE", ""),
        exit_code(sections.get("RC", "")),
        sections.get("ENABLED", ""),
    )


# ----------------------------------------------------------------------------- firewall.ports

# Ports no step opens, probed to prove the default drop from the outside.
CLOSED_CANDIDATES = (81, 8443, 31337, 4444, 9999, 6666)
CLOSED_COUNT = 3
OPEN_TIMEOUT = 3.0  # a little more for the ports that must answer, over a slow link
CLOSED_TIMEOUT = 2.0  # the longest silence awaited (see wizard.probes.tcp.silence_wait)


@dataclass(frozen=True)
class Probe:
    """One TCP connection attempt from the outside and what came back."""

    address: str
    port: int
    expect: Literal["answer", "filtered"]
    seen: TcpState
    detail: str = ""

    @property
    def family(self) -> str:
        """IPv4 or IPv6, as the user reads it."""
        return "IPv6" if ":" in self.address else "IPv4"

    @property
    def answered(self) -> bool:
        """Whether the firewall let the packet through (connected or refused)."""
        return self.seen in ANSWERS

    @property
    def where(self) -> str:
        """Like '22/tcp on IPv6 2001:db8::1'."""
        return f"{self.port}/tcp on {self.family} {self.address}"


def split_ports(ports: Iterable[str]) -> tuple[list[int], list[str]]:
    """The TCP port numbers of 'N/proto' entries (tcp when no protocol), and the other entries."""
    tcp: list[int] = []
    other: list[str] = []
    for entry in ports:
        number, _, proto = str(entry).partition("/")
        if (proto or "tcp") == "tcp" and number.isdigit():
            tcp.append(int(number))
        else:
            other.append(str(entry))
    return sorted(set(tcp)), other


def closed_ports(allowed: Iterable[int]) -> list[int]:
    """The fixed unusual ports to probe, leaving out any that is allowed."""
    allowed = set(allowed)
    return [port for port in CLOSED_CANDIDATES if port not in allowed][:CLOSED_COUNT]


def judge_ports(probes: Sequence[Probe], not_probed: Sequence[str]) -> CheckResult:
    """Allowed ports answer and the others are filtered, on every address, IPv4 and IPv6 alike."""
    cid = "firewall.ports"
    lines = []
    for address in dict.fromkeys(p.address for p in probes):
        seen = ", ".join(f"{p.port}/tcp {p.seen}" for p in probes if p.address == address)
        lines.append(f"{'IPv6' if ':' in address else 'IPv4'} {address}: {seen}")
    if not_probed:
        lines.append(f"udp not probed: {', '.join(not_probed)}")
    evidence = "\n".join(lines)

    silent = [p for p in probes if p.expect == "answer" and p.seen == "filtered"]
    leaking = [p for p in probes if p.expect == "filtered" and p.answered]
    unreachable = [p for p in probes if p.seen == "unreachable"]
    by_port: dict[int, set[bool]] = {}
    for p in probes:
        if p.seen != "unreachable":
            by_port.setdefault(p.port, set()).add(p.answered)
    disagree = sorted(port for port, answers in by_port.items() if len(answers) > 1)

    problems = [f"{p.where} does not answer" for p in silent]
    problems += [f"{p.where} answers though it is not opened" for p in leaking]
    if disagree:
        problems.append(
            "IPv4 and IPv6 disagree on " + ", ".join(f"{port}/tcp" for port in disagree)
        )
    if problems:
        hints = []
        if silent:
            hints.append(
                f"{RERUN_FIREWALL} so that its rules include the silent ports; if the server "
                "answers locally, a provider firewall or security group may drop them too"
            )
        if leaking:
            # In nftables a drop in any base chain wins, so a port that answers is let in
            # by our own table (or the table is not what the step wrote).
            hints.append(
                f"the firewall lets these ports in: look at sudo nft list table {TABLE} "
                f"(policy drop? which tcp dport?), then {RERUN_FIREWALL}"
            )
        return fail(cid, "; ".join(problems), evidence, "; ".join(hints))
    if unreachable:
        return warn(
            cid,
            "some addresses could not be probed from here: "
            + ", ".join(dict.fromkeys(f"{p.family} {p.address}" for p in unreachable)),
            evidence + "\n" + unreachable[0].detail,
            "this machine may have no route to it (often IPv6); probe from a machine that has, "
            "e.g. nc -vz -w 2 ADDRESS PORT",
        )
    return ok(cid, "only the opened ports answer, on IPv4 and IPv6 alike", evidence)


def scan(
    addresses: Sequence[str], open_ports: Sequence[int], closed: Sequence[int], ssh_port: int
) -> list[Probe]:
    """Probe every (address, port) at once: the scan takes one timeout, not one per port. A
    port that must be filtered is listened to for as long as the link's round trip says
    (silence_wait, timed on the SSH port), several SYNs in that time."""
    waits = silence_waits(addresses, ssh_port, CLOSED_TIMEOUT)
    plan = [(a, p, "answer") for a in addresses for p in open_ports]
    plan += [(a, p, "filtered") for a in addresses for p in closed]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(32, len(plan)))) as pool:
        futures = [
            pool.submit(probe_tcp, a, p, OPEN_TIMEOUT)
            if e == "answer"
            else pool.submit(probe_tcp, a, p, waits[a], SILENT_TRIES)
            for a, p, e in plan
        ]
        return [
            Probe(address, port, expect, *future.result())  # type: ignore[arg-type]
            for (address, port, expect), future in zip(plan, futures, strict=True)
        ]


@check("firewall.ports")
def ports_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From the outside, the opened ports answer and others are filtered, on IPv4 and IPv6."""
    tcp, not_probed = split_ports(params.get("open") or ())
    addresses = server_addresses(server_host(ctx.address), ctx.facts.ipv6)
    if any(ipaddress.ip_address(a).is_loopback for a in addresses):
        # A local port forward or tunnel: a scan would test the forward, not the firewall.
        return warn(
            "firewall.ports",
            "not scanned: the wizard reaches the server through a local forward",
            f"{ctx.address} is a loopback address",
            "run verify from a machine that reaches the server's own address",
        )
    return judge_ports(scan(addresses, tcp, closed_ports(tcp), ctx.reach_port()), not_probed)
