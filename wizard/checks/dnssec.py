"""Checks of the dnssec step: the zone as a validating resolver sees it (DNSKEY, every RRSIG
valid, none close to expiry, denial of existence signed), the DS to give the registrar against
what the parent zone holds, and named re-signing under its policy by itself.

Everything is validated here with dnspython against the DNSKEY set the server publishes; the
server is asked only what named itself reports (rndc zonestatus).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

import dns.dnssec
import dns.name
import dns.node
import dns.rdataset
import dns.rdatatype
import dns.rrset

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
from wizard.checks.params import safe_domain, zone_file
from wizard.probes.dns import Answer, Delegation, query_many, read_delegation, system_resolver
from wizard.probes.sshconfig import server_host
from wizard.shell import Shell, code, script, sh

RERUN_DNSSEC = "run the dnssec step again"
MIN_VALIDITY = datetime.timedelta(days=7)
KSK_FLAGS = 257
# A name that does not exist, to see the signed proof of its absence.
ABSENT_LABEL = "vps-wizard-absent-name"


def utcnow() -> datetime.datetime:
    """Now, timezone-aware (a function, so the judges can be given another time)."""
    return datetime.datetime.now(datetime.UTC)


def signed_sets(answer: Answer) -> list[tuple[dns.rrset.RRset, dns.rrset.RRset | None]]:
    """Each record set of the answer and authority sections with its RRSIG set, if any."""
    if answer.response is None:
        return []
    pairs = []
    for section in (answer.response.answer, answer.response.authority):
        sigs = {(r.name, r.covers): r for r in section if r.rdtype == dns.rdatatype.RRSIG}
        for rrset in section:
            if rrset.rdtype != dns.rdatatype.RRSIG:
                pairs.append((rrset, sigs.get((rrset.name, rrset.rdtype))))
    return pairs


def judge_signed(
    domain: str,
    dnskey: Answer,
    answers: Sequence[Answer],
    absent: Answer | None,
    now: datetime.datetime,
) -> CheckResult:
    """DNSKEY present; every record set answered has an RRSIG valid against it; the soonest
    expiry is more than 7 days away; the NXDOMAIN answer carries signed NSEC or NSEC3."""
    cid = "dnssec.signed"
    origin = dns.name.from_text(domain)
    keys = dnskey.rrset("answer", "DNSKEY")
    if keys is None:
        return fail(
            cid,
            f"{domain} publishes no DNSKEY: the zone is not signed",
            f"DNSKEY {domain}: {dnskey.rcode}",
            f"{RERUN_DNSSEC}; if it was applied, see journalctl -u named (key directory rights)",
        )
    keyring: dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset] = {origin: keys}
    lines = [
        f"DNSKEY: {len(keys)} key(s), tags {', '.join(str(dns.dnssec.key_id(k)) for k in keys)}"
    ]
    problems: list[str] = []
    expiries: list[tuple[datetime.datetime, str]] = []
    denial = False
    for answer in [dnskey, *answers, *([absent] if absent else [])]:
        if answer.error:
            problems.append(f"{answer.name} {answer.rdtype}: {answer.error}")
            continue
        for rrset, sigs in signed_sets(answer):
            label = f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"
            if rrset.rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3) and sigs is not None:
                denial = True
            if sigs is None:
                problems.append(f"{label} has no RRSIG")
                continue
            try:
                dns.dnssec.validate(rrset, sigs, keyring, now=now.timestamp())
            except dns.dnssec.ValidationFailure as error:
                problems.append(f"{label}: RRSIG does not validate ({error})")
                continue
            expiry = min(
                datetime.datetime.fromtimestamp(sig.expiration, datetime.UTC) for sig in sigs
            )
            expiries.append((expiry, label))
            lines.append(f"{label}: valid, expires {expiry:%Y-%m-%d %H:%M} UTC")
    if absent is not None and absent.response is not None and not denial:
        problems.append(f"{absent.name}: {absent.rcode} without a signed NSEC/NSEC3")
    if expiries:
        soonest, label = min(expiries)
        left = soonest - now
        lines.append(f"soonest expiry: {label}, in {left.days} d {left.seconds // 3600} h")
        if left < MIN_VALIDITY:
            problems.append(
                f"the RRSIG of {label} expires in {left.days} d {left.seconds // 3600} h "
                "(less than 7 days)"
            )
    evidence = "\n".join(lines)
    if problems:
        return fail(
            cid,
            "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if problems[3:] else ""),
            evidence,
            "named is not keeping the zone signed: check that it runs and that its policy is "
            f"loaded (dnssec.resign), then {RERUN_DNSSEC}; `rndc sign {domain}` re-signs now",
        )
    return ok(cid, f"{domain}: every answer signed and valid, denial signed", evidence)


@check("dnssec.signed")
def signed_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Ask with DO set, straight at the server, and validate everything here."""
    domain = str(params["domain"])
    questions = [(domain, "DNSKEY"), (domain, "SOA"), (domain, "NS"), (domain, "A")]
    if params.get("mail_host"):
        questions.append((domain, "MX"))
    questions.append((f"{ABSENT_LABEL}.{domain}", "A"))
    dnskey, *answers, absent = query_many(server_host(ctx.address), questions, dnssec=True)
    return judge_signed(domain, dnskey, answers, absent, utcnow())


# ----------------------------------------------------------------------------- dnssec.ds


def ds_records(domain: str, dnskey: Answer) -> list[str]:
    """The DS (SHA-256) of each KSK the zone publishes, as the registrar wants them."""
    keys = dnskey.rrset("answer", "DNSKEY")
    if keys is None:
        return []
    origin = dns.name.from_text(domain)
    return [
        dns.dnssec.make_ds(origin, key, "SHA256").to_text().lower()
        for key in keys
        if key.flags == KSK_FLAGS
    ]


def judge_ds(domain: str, wanted: Sequence[str], delegation: Delegation) -> CheckResult:
    """The DS to give; the parent's DS must match a KSK (a stale one breaks the domain)."""
    cid = "dnssec.ds"
    evidence = "At your registrar (DS, or the DNSKEY if it asks for the key):\n  " + (
        "\n  ".join(f"{domain}. IN DS {ds.upper()}" for ds in wanted) or "(no KSK published)"
    )
    if not wanted:
        return fail(cid, f"{domain} has no KSK to make a DS from", evidence, RERUN_DNSSEC)
    if delegation.error:
        return warn(
            cid,
            f"the parent zone of {domain} could not be read: {delegation.error}",
            evidence,
            "give the DS above to your registrar; the check then confirms the parent holds it",
        )
    held = sorted(ds.lower() for ds in delegation.ds)
    evidence += f"\nThe parent {delegation.parent} holds:\n  " + ("\n  ".join(held) or "no DS")
    stale = [ds for ds in held if ds not in wanted]
    if stale and not set(held) & set(wanted):
        return fail(
            cid,
            f"the parent's DS of {domain} matches no key of the zone: validating resolvers "
            "answer SERVFAIL for the whole domain",
            evidence,
            "replace the DS at your registrar with the one above now (or remove it to turn "
            "DNSSEC off until then)",
        )
    if not held:
        return warn(
            cid,
            f"the parent {delegation.parent} holds no DS for {domain}: signed, not yet trusted",
            evidence,
            "give the DS above to your registrar",
        )
    if stale:
        return warn(
            cid,
            f"the parent also holds a DS for a key that is gone: {', '.join(stale)}",
            evidence,
            "remove the old DS at your registrar",
        )
    return ok(cid, f"the parent {delegation.parent} holds the DS of the KSK", evidence)


@check("dnssec.ds")
def ds_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """DS from the KSK served; the parent's DS read through the dns-zone's resolver."""
    domain = str(params["domain"])
    (dnskey,) = query_many(server_host(ctx.address), [(domain, "DNSKEY")], dnssec=True)
    resolver = str(params.get("resolver") or "") or system_resolver()
    delegation = read_delegation(domain, resolver) if resolver else Delegation(error="no resolver")
    return judge_ds(domain, ds_records(domain, dnskey), delegation)


# ----------------------------------------------------------------------------- dnssec.resign


def judge_resign(domain: str, zonestatus: str, dnssec_status: str, raw_serial: str) -> CheckResult:
    """named applies the policy to the zone and has the next re-signing scheduled; its signed
    serial is its own (it moves when named re-signs, without the wizard)."""
    cid = "dnssec.resign"
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in zonestatus.splitlines())
        if value
    )
    match = re.search(r"^dnssec-policy: (\S+)", dnssec_status, re.MULTILINE)
    policy = match.group(1) if match else ""
    next_resign = fields.get("next resign time", "")
    signed = fields.get("signed serial", "")
    evidence = "\n".join(
        [
            f"dnssec-policy: {policy or '(none)'}",
            f"next resign: {fields.get('next resign node', '?')} at {next_resign or '(none)'}",
            f"serial of the zone file: {raw_serial or '?'}; signed serial: {signed or '(none)'}",
        ]
    )
    if "serial" not in fields:
        return fail(cid, f"named does not serve {domain}", zonestatus.strip()[-300:], RERUN_DNSSEC)
    if policy in ("", "none", "insecure"):  # insecure: named is unsigning the zone
        return fail(
            cid,
            f"no dnssec-policy on {domain}: nothing re-signs it",
            evidence,
            RERUN_DNSSEC + " (it puts the policy in the zone's options)",
        )
    if not signed or not next_resign:
        return fail(
            cid,
            f"named has no re-signing scheduled for {domain}",
            evidence,
            f"rndc sign {domain}, then journalctl -u named; {RERUN_DNSSEC}",
        )
    return ok(
        cid, f"named re-signs {domain} by itself (policy {policy}, next {next_resign})", evidence
    )


def resign_script(domain: str) -> Shell:
    """What named says of the zone and its signing, and the serial of the zone file."""
    return script(
        marker("STATUS"),
        sh("rndc zonestatus {domain} 2>&1", domain=domain),
        marker("DNSSEC"),
        sh("rndc dnssec -status {domain} 2>&1", domain=domain),
        marker("SERIAL"),
        sh("sed -n 's/^ *\\([0-9]*\\) ; serial$/\\1/p' {file}", file=zone_file(domain)),
        code("true"),
    )


@check("dnssec.resign")
def resign_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """rndc zonestatus and the zone file's serial (server, one round trip)."""
    domain = str(params["domain"])
    if not safe_domain(domain):
        return fail("dnssec.resign", f"'{domain}' is not a domain", hint="a step bug")
    sections = run_sections(ctx, resign_script(domain))
    serial = re.sub(r"\s+", "", sections.get("SERIAL", ""))
    return judge_resign(domain, sections.get("STATUS", ""), sections.get("DNSSEC", ""), serial)
