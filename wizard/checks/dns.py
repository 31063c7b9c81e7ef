"""Checks of the dns-zone step: the zone builds and loads (server), the server answers
authoritatively with the records the answers asked for, the serial it serves is the one of the
zone file, and what the registrar must hold, compared with what the parent zone holds.

Queries go straight to the server's address with dnspython (no resolver, no cache), so they
prove what this server says, before and after the registrar points to it.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Mapping, Sequence
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
from wizard.checks.params import safe_domain, zone_file
from wizard.probes.dns import (
    Answer,
    Delegation,
    query,
    query_many,
    read_delegation,
    system_resolver,
)
from wizard.probes.sshconfig import server_host
from wizard.shell import Shell, code, script, sh

RERUN_ZONE = "run the dns-zone step again"


def absolute(name: str) -> str:
    """A name in zone-file form, with its final dot, lowercased."""
    return name.lower().rstrip(".") + "."


# ----------------------------------------------------------------------------- dns.zone_valid


def zone_script(domain: str) -> Shell:
    """named's state, the built zone checked, and whether it is up to date with the fragments."""
    return script(
        marker("ACTIVE"),
        code("systemctl is-active named 2>&1"),
        marker("CHECKZONE"),
        sh("named-checkzone {domain} {file} 2>&1", domain=domain, file=zone_file(domain)),
        code("rc=$?"),
        marker("RC"),
        code('echo "$rc"'),
        marker("UPTODATE"),
        sh("/usr/local/sbin/vps-wizard-zone {domain} --check >/dev/null 2>&1", domain=domain),
        code('echo "$?"'),
        marker("STATUS"),
        sh("rndc zonestatus {domain} 2>&1", domain=domain),
        code("true"),
    )


def judge_zone(domain: str, sections: Mapping[str, str]) -> CheckResult:
    """named runs, named-checkzone accepts the built zone, and it is up to date."""
    cid = "dns.zone_valid"
    active = sections.get("ACTIVE", "").strip() or "(unknown)"
    checkzone = sections.get("CHECKZONE", "").strip()
    evidence = f"named: {active}\nnamed-checkzone {domain}:\n{checkzone}"
    if exit_code(sections.get("RC", "")) != 0:
        return fail(cid, f"named-checkzone refuses the zone {domain}", evidence, RERUN_ZONE)
    if exit_code(sections.get("UPTODATE", "")) != 0:
        return fail(
            cid,
            f"the zone file of {domain} is older than its fragments",
            evidence,
            f"run /usr/local/sbin/vps-wizard-zone {domain} on the server, or {RERUN_ZONE}",
        )
    if active != "active":
        return fail(cid, f"named is {active}", evidence, "systemctl restart named; " + RERUN_ZONE)
    if "serial" not in sections.get("STATUS", ""):
        return fail(
            cid,
            f"named has not loaded the zone {domain}",
            evidence + "\n" + sections.get("STATUS", "").strip(),
            "journalctl -u named says why; " + RERUN_ZONE,
        )
    return ok(cid, f"the zone {domain} is valid, up to date and loaded", evidence)


@check("dns.zone_valid")
def zone_valid_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """named-checkzone on the zone named loads (server)."""
    domain = str(params["domain"])
    if not safe_domain(domain):
        return fail("dns.zone_valid", f"'{domain}' is not a domain", hint="a step bug")
    return judge_zone(domain, run_sections(ctx, zone_script(domain)))


# ----------------------------------------------------------------------------- dns.authoritative


def expected_records(params: Mapping[str, Any]) -> dict[tuple[str, str], set[str]]:
    """{(name, type): records} as the answers want them, in zone-file text."""
    domain = str(params["domain"])
    ipv4, ipv6 = str(params.get("ipv4") or ""), str(params.get("ipv6") or "")
    wanted: dict[tuple[str, str], set[str]] = {
        (domain, "NS"): {absolute(ns) for ns in params.get("ns", ())},
        (domain, "A"): {ipv4} if ipv4 else set(),
        (domain, "AAAA"): {ipv6} if ipv6 else set(),
        (f"www.{domain}", "A"): {ipv4} if ipv4 else set(),
    }
    mail_host = str(params.get("mail_host") or "")
    wanted[(domain, "MX")] = {f"10 {absolute(mail_host)}"} if mail_host else set()
    issuer = str(params.get("caa_issuer") or "")
    wanted[(domain, "CAA")] = (
        {f'0 issue "{issuer}"', '0 issuewild ";"', f'0 iodef "mailto:hostmaster@{domain}"'}
        if issuer
        else set()
    )
    return wanted


def judge_authoritative(
    domain: str,
    soa: Answer,
    answers: Mapping[tuple[str, str], Answer],
    wanted: Mapping[tuple[str, str], set[str]],
) -> CheckResult:
    """The SOA comes with AA; each record set is exactly what the answers asked for."""
    cid = "dns.authoritative"
    lines = [f"{domain} SOA: {soa.rcode}, {'AA' if soa.authoritative else 'no AA'}"]
    problems = []
    if not soa.authoritative or not soa.texts():
        problems.append(f"no authoritative SOA for {domain} ({soa.rcode})")
    for (name, rdtype), records in wanted.items():
        answer = answers[(name, rdtype)]
        served = answer.texts()
        lines.append(
            f"{name} {rdtype}: {', '.join(sorted(served)) or '(none)'}"
            + ("" if answer.authoritative or answer.error else " [no AA]")
        )
        if answer.error:
            problems.append(f"{name} {rdtype}: {answer.error}")
        elif not answer.authoritative:
            problems.append(f"{name} {rdtype} is not authoritative")
        elif served != records:
            missing, extra = records - served, served - records
            problems.append(
                f"{name} {rdtype}"
                + (f" lacks {', '.join(sorted(missing))}" if missing else "")
                + (f" has {', '.join(sorted(extra))} too" if extra else "")
            )
    evidence = "\n".join(lines)
    if problems:
        return fail(
            cid,
            "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if problems[3:] else ""),
            evidence,
            f"{RERUN_ZONE}; if it was applied, see dns.zone_valid (the zone may not load)",
        )
    return ok(cid, f"{domain}: SOA, NS, A, AAAA, MX and CAA served with AA, as answered", evidence)


@check("dns.authoritative")
def authoritative_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Every record set asked straight of the server over UDP."""
    domain = str(params["domain"])
    wanted = expected_records(params)
    address = server_host(ctx.address)
    questions = [(domain, "SOA"), *wanted]
    soa, *rest = query_many(address, questions)
    return judge_authoritative(domain, soa, dict(zip(wanted, rest, strict=True)), wanted)


# ----------------------------------------------------------------------------- dns.serial


def file_serial(zone_text: str) -> int | None:
    """The serial of a zone file built by vps-wizard-zone (the line ending in '; serial')."""
    match = re.search(r"^\s*(\d+)\s*; serial$", zone_text, re.MULTILINE)
    return int(match.group(1)) if match else None


def status_serials(zonestatus: str) -> tuple[int | None, int | None]:
    """(loaded serial, signed serial) from `rndc zonestatus`; signed is None when unsigned."""
    loaded = re.search(r"^serial: (\d+)", zonestatus, re.MULTILINE)
    signed = re.search(r"^signed serial: (\d+)", zonestatus, re.MULTILINE)
    return (
        int(loaded.group(1)) if loaded else None,
        int(signed.group(1)) if signed else None,
    )


def judge_serial(domain: str, zone_text: str, zonestatus: str, soa: Answer) -> CheckResult:
    """The zone file's serial is the one named loaded; the SOA served has named's serial (the
    signed one when DNSSEC signs the zone: BIND numbers the signed zone itself)."""
    cid = "dns.serial"
    in_file = file_serial(zone_text)
    loaded, signed = status_serials(zonestatus)
    soa_set = soa.rrset()
    served = soa_set[0].serial if soa_set else None
    evidence = (
        f"zone file: {in_file}\nnamed loaded: {loaded}"
        + (f"\nsigned zone: {signed}" if signed is not None else "")
        + f"\nserved SOA: {served if served is not None else soa.rcode}"
    )
    if in_file is None:
        return fail(cid, f"no built zone file for {domain}", evidence, RERUN_ZONE)
    if loaded != in_file:
        return fail(
            cid,
            f"named serves serial {loaded}, the zone file has {in_file}",
            evidence,
            f"named did not reload the zone: rndc reload {domain} (see journalctl -u named)",
        )
    expected = signed if signed is not None else loaded
    if served != expected:
        return fail(
            cid,
            f"the SOA answered has serial {served}, named's zone {expected}",
            evidence,
            "another server answers for this address, or named is stuck: restart named",
        )
    return ok(cid, f"serial {served} served, the zone file's ({in_file}) loaded", evidence)


def serial_script(domain: str) -> Shell:
    """The zone file and what named says of the zone."""
    return script(
        marker("ZONE"),
        sh("cat {file} 2>&1", file=zone_file(domain)),
        marker("STATUS"),
        sh("rndc zonestatus {domain} 2>&1", domain=domain),
        code("true"),
    )


@check("dns.serial")
def serial_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Zone file and rndc zonestatus on the server (one round trip), the SOA from outside."""
    domain = str(params["domain"])
    if not safe_domain(domain):
        return fail("dns.serial", f"'{domain}' is not a domain", hint="a step bug")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        soa_future = pool.submit(query, server_host(ctx.address), domain, "SOA")
        sections = run_sections(ctx, serial_script(domain))
        soa = soa_future.result()
    return judge_serial(domain, sections.get("ZONE", ""), sections.get("STATUS", ""), soa)


# ----------------------------------------------------------------------------- dns.registrar


def registrar_entries(
    domain: str, ns: Sequence[str], ipv4: str, ipv6: str
) -> tuple[set[str], set[str]]:
    """What the registrar must hold: NS names, and glue for the names inside the domain."""
    names = {absolute(n) for n in ns}
    glue = set()
    for name in names:
        if name.endswith("." + absolute(domain)):
            glue |= {f"{name} {address}" for address in (ipv4, ipv6) if address}
    return names, glue


def judge_registrar(
    domain: str, names: set[str], glue: set[str], delegation: Delegation, resolver: str
) -> CheckResult:
    """Print what to enter; compare with the parent when it could be read."""
    cid = "dns.registrar"
    wanted = [f"NS {n}" for n in sorted(names)] + [f"glue {g}" for g in sorted(glue)]
    evidence = "At your registrar:\n  " + "\n  ".join(wanted)
    source = resolver or "this computer's resolver"
    if delegation.error:
        return warn(
            cid,
            f"the parent zone of {domain} could not be read: {delegation.error}",
            evidence,
            f"enter the lines above at your registrar; the check asks {source}",
        )
    held = [f"NS {n}" for n in sorted(delegation.ns)] + [f"glue {g}" for g in delegation.glue]
    evidence += f"\nThe parent {delegation.parent} holds:\n  " + ("\n  ".join(held) or "nothing")
    if delegation.ns != names or not glue <= delegation.glue:
        missing = [f"NS {n}" for n in sorted(names - delegation.ns)]
        missing += [f"glue {g}" for g in sorted(glue - delegation.glue)]
        extra = [f"NS {n}" for n in sorted(delegation.ns - names)]
        return fail(
            cid,
            f"the parent {delegation.parent} does not delegate {domain} as answered"
            + (f": missing {', '.join(missing)}" if missing else "")
            + (f"; extra {', '.join(extra)}" if extra else ""),
            evidence,
            "enter exactly the lines above at your registrar (changes take up to 48 h to "
            "show), or fix the dns-zone answers if the registrar is right",
        )
    return ok(cid, f"the parent {delegation.parent} delegates {domain} as answered", evidence)


@check("dns.registrar")
def registrar_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside: the parent zone's servers, found through the resolver answered (or this
    computer's), asked for the delegation."""
    domain = str(params["domain"])
    names, glue = registrar_entries(
        domain, list(params.get("ns", ())), str(params.get("ipv4") or ""), str(params["ipv6"])
    )
    resolver = str(params.get("resolver") or "") or system_resolver()
    delegation = read_delegation(domain, resolver) if resolver else Delegation(error="no resolver")
    return judge_registrar(domain, names, glue, delegation, str(params.get("resolver") or ""))
