"""Checks of the dane step: the TLSA records the server's DNS publishes match the keys that
nginx (or Apache) and Postfix really serve, seen from the wizard's machine over TLS and STARTTLS
and never read from the server's disk; extra records are allowed only for the next key of a
pending switch, which the server names. And the renewal path: the hooks that publish the next
key before each switch are in place, and no switch is stuck.

The pure `judge_*` functions take what was seen and decide; the `@check` functions gather it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

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
from wizard.checks.params import names_of, safe_domain, safe_path
from wizard.probes.dns import query_many
from wizard.probes.smtp import converse
from wizard.probes.sshconfig import server_host
from wizard.probes.tls import Handshake, handshake
from wizard.shell import Shell, code, script, sh

RERUN_DANE = "run the dane step again"
# The tls deploy hook's timer (templates/tls/deploy-hook.sh.j2) and the dane step's files.
SWITCH_UNIT = "vps-wizard-tls-switch"
TLSA_SCRIPT = "/usr/local/sbin/vps-wizard-tlsa"
PREPARE_HOOK = "/etc/vps-wizard/tls-prepare.d/50-dane"
DEPLOY_HOOK = "/etc/vps-wizard/tls-deploy.d/50-dane"
CERTBOT_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-vps-wizard"


def spki_sha256(certificate: bytes) -> str:
    """The data of a `3 1 1` TLSA record: SHA-256 of the certificate's DER SubjectPublicKeyInfo,
    in lowercase hex. `certificate` is DER, or PEM (the first certificate of a chain)."""
    if certificate.lstrip().startswith(b"-----BEGIN"):
        cert = x509.load_pem_x509_certificate(certificate)
    else:
        cert = x509.load_der_x509_certificate(certificate)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def tlsa_owner(port: int, name: str) -> str:
    """The owner name of a TLS service's TLSA records: _443._tcp.example.net."""
    return f"_{port}._tcp.{name.rstrip('.')}"


def record_text(digest: str) -> str:
    """A 3 1 1 record's data as dnspython writes it (lowercase hex)."""
    return f"3 1 1 {digest.lower()}"


def short(text: str) -> str:
    """A record or hash cut for the summary line; the evidence keeps it whole."""
    return text if len(text) <= 24 else text[:20] + "…"


@dataclass(frozen=True)
class Seen:
    """One TLS service: the key it served (SPKI SHA-256), the TLSA records the server's DNS
    answered for it, and why either is missing."""

    owner: str
    served: str = ""
    served_error: str = ""
    records: frozenset[str] = frozenset()
    dns_error: str = ""
    signed: bool = False


def seen_for(owner: str, tls: Handshake, publication: tuple[frozenset[str], str, bool]) -> Seen:
    """What one service showed: the key of its TLS handshake, and its records as
    `published` returned them (records, DNS error, signed)."""
    records, dns_error, signed = publication
    return Seen(
        owner,
        served=spki_sha256(tls.leaf) if tls.leaf else "",
        served_error="" if tls.leaf else (tls.error or "no certificate"),
        records=records,
        dns_error=dns_error,
        signed=signed,
    )


def judge_records(cid: str, seen: Sequence[Seen], pending: str, port: int) -> CheckResult:
    """Every served key has its 3 1 1 record; an extra record is fine only for the next key of a
    pending switch (`pending`, its hash, as the server said), else it is stale. A next key
    whose record is missing would break the service at the switch: that fails too."""
    lines: list[str] = []
    failures: list[tuple[str, str]] = []
    stale: list[str] = []
    next_record = record_text(pending) if pending else ""
    for item in seen:
        lines.append(
            f"{item.owner}: served key {item.served or '(none: ' + item.served_error + ')'}\n"
            f"  published: {', '.join(sorted(item.records)) or '(none)'}"
            + ("" if item.dns_error else f" ({'signed' if item.signed else 'zone not signed'})")
        )
        if item.served_error:
            failures.append(
                (
                    f"{item.owner}: no certificate served ({item.served_error})",
                    f"is the service up and port {port} open? see its step's checks",
                )
            )
            continue
        if item.dns_error:
            failures.append(
                (
                    f"{item.owner}: the server's DNS does not answer ({item.dns_error})",
                    "see the dns-zone step's checks (dns.zone_valid, dns.authoritative); "
                    + RERUN_DANE,
                )
            )
            continue
        wanted = record_text(item.served)
        if wanted not in item.records:
            what = (
                "matches no key the server serves: a record for an old key"
                if item.records
                else "is missing"
            )
            failures.append((f"the TLSA of {item.owner} {what}", RERUN_DANE))
            continue
        if next_record and next_record not in item.records:
            failures.append(
                (
                    f"the next key waits for its switch but {item.owner} has no record for it",
                    f"{RERUN_DANE}: it publishes the next key's record before the switch",
                )
            )
        for record in sorted(item.records - {wanted}):
            if record == next_record:
                lines.append(f"  {short(record)}: the next key, published before its switch")
            else:
                stale.append(f"{item.owner} {short(record)}")
    evidence = "\n".join(lines)
    if failures:
        hints = dict.fromkeys(hint for _, hint in failures)
        return fail(cid, "; ".join(summary for summary, _ in failures), evidence, "; ".join(hints))
    if stale:
        return warn(
            cid,
            f"records for keys no longer served are still trusted: {', '.join(stale)}",
            evidence,
            f"{RERUN_DANE}: it keeps only the served key's record (and a next key's)",
        )
    owners = ", ".join(item.owner for item in seen)
    coming = (
        "; the next key's record is published for the coming switch"
        if next_record and next_record not in {record_text(i.served) for i in seen}
        else ""
    )
    return ok(cid, f"{owners}: the record matches the key served{coming}", evidence)


def pending_script(lineage: str) -> Shell:
    """The next certificate of a lineage, waiting for its switch (empty when none)."""
    return script(
        marker("NEXT"),
        sh("cat {next} 2>/dev/null", next=f"{lineage}/next-fullchain.pem"),
        code("true"),
    )


def pending_key(sections: Mapping[str, str]) -> str:
    """The next key's hash from pending_script's output, '' when no switch waits."""
    text = sections.get("NEXT", "").strip()
    return spki_sha256(text.encode()) if "BEGIN CERTIFICATE" in text else ""


def published(server: str, owners: Sequence[str]) -> list[tuple[frozenset[str], str, bool]]:
    """(3 1 1-or-other records as text, error, signed) per owner, asked straight of `server`
    (DNSSEC records asked for, to tell whether the zone is signed)."""
    answers = query_many(server, [(owner, "TLSA") for owner in owners], dnssec=True)
    found = []
    for answer in answers:
        error = answer.error
        if not error and (answer.rcode not in ("NOERROR", "NXDOMAIN") or not answer.authoritative):
            error = f"{answer.rcode}, {'AA' if answer.authoritative else 'not authoritative'}"
        signed = answer.rrset("answer", "RRSIG") is not None
        found.append((frozenset(answer.texts()), error, signed))
    return found


# ----------------------------------------------------------------------------- dane.https


@check("dane.https")
def https_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The key served on 443 for each name (TLS, SNI the name) against its TLSA records."""
    names, lineage = names_of(params["names"]), str(params["lineage"])
    if not safe_path(lineage) or not all(safe_domain(n) for n in names):
        return fail("dane.https", f"'{lineage}' or {names} is not usable", hint="a step bug")
    address = server_host(ctx.address)
    pending = pending_key(run_sections(ctx, pending_script(lineage)))
    owners = [tlsa_owner(443, name) for name in names]
    seen = [
        seen_for(owner, handshake(address, name), publication)
        for name, owner, publication in zip(names, owners, published(address, owners), strict=True)
    ]
    return judge_records("dane.https", seen, pending, 443)


# ----------------------------------------------------------------------------- dane.smtp


@check("dane.smtp")
def smtp_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The key Postfix serves after STARTTLS on 25 against the mail host's TLSA records."""
    host, lineage = str(params.get("host") or ""), str(params.get("lineage") or "")
    if not host:
        return ok("dane.smtp", "no mail step applied: no SMTP record to publish", "")
    if not safe_path(lineage) or not safe_domain(host):
        return fail("dane.smtp", f"'{lineage}' or '{host}' is not usable", hint="a step bug")
    address = server_host(ctx.address)
    pending = pending_key(run_sections(ctx, pending_script(lineage)))
    owner = tlsa_owner(25, host)
    [publication] = published(address, [owner])
    seen = seen_for(owner, converse(address, host, 25).tls, publication)
    return judge_records("dane.smtp", [seen], pending, 25)


# ----------------------------------------------------------------------------- dane.renewal


@dataclass(frozen=True)
class RenewalState:
    """What the server says of the rollover machinery."""

    prepare_hook: bool
    deploy_hook: bool
    certbot_hook: str  # "rollover", "old" (switches at once) or "missing"
    next_cert: str  # the archive file a switch waits to serve, "" when none
    timer: str  # the switch timer's SubState ("waiting" while it counts down)
    timer_line: str  # systemctl list-timers' line for it, for the evidence
    records_fresh: bool  # vps-wizard-tlsa --check


def renewal_script(lineage: str) -> Shell:
    """The hooks, the certbot hook's kind, the pending switch and whether tlsa.zone is current."""
    timer = f"{SWITCH_UNIT}.timer"
    return script(
        marker("HOOKS"),
        sh("[ -x {hook} ] && echo prepare", hook=PREPARE_HOOK),
        sh("[ -x {hook} ] && echo deploy", hook=DEPLOY_HOOK),
        marker("CERTBOT"),
        sh(
            "if [ ! -x {hook} ]; then echo missing; "
            "elif grep -q tls-prepare.d {hook}; then echo rollover; else echo old; fi",
            hook=CERTBOT_HOOK,
        ),
        marker("NEXT"),
        sh("readlink {next}", next=f"{lineage}/next-fullchain.pem"),
        marker("TIMER"),
        sh("systemctl show -P SubState {timer} 2>/dev/null", timer=timer),
        marker("TIMERLINE"),
        sh("systemctl list-timers --all --no-legend {timer} 2>/dev/null", timer=timer),
        marker("FRESH"),
        sh("{tlsa} --check >/dev/null 2>&1", tlsa=TLSA_SCRIPT),
        code('echo "$?"'),
    )


def renewal_state(sections: Mapping[str, str]) -> RenewalState:
    """Parse renewal_script's output."""
    hooks = sections.get("HOOKS", "").split()
    return RenewalState(
        prepare_hook="prepare" in hooks,
        deploy_hook="deploy" in hooks,
        certbot_hook=sections.get("CERTBOT", "").strip() or "missing",
        next_cert=sections.get("NEXT", "").strip(),
        timer=sections.get("TIMER", "").strip(),
        timer_line=" ".join(sections.get("TIMERLINE", "").split()),
        records_fresh=exit_code(sections.get("FRESH", "")) == 0,
    )


def judge_renewal(source: str, state: RenewalState) -> CheckResult:
    """The hooks are in place, certbot's hook defers to them, tlsa.zone holds what the served
    certificates need, and a switch that waits has its timer."""
    cid = "dane.renewal"
    evidence = "\n".join(
        [
            f"{PREPARE_HOOK}: {'present' if state.prepare_hook else 'missing'}",
            f"{DEPLOY_HOOK}: {'present' if state.deploy_hook else 'missing'}",
            f"{CERTBOT_HOOK}: {state.certbot_hook}",
            f"tlsa.zone: {'up to date' if state.records_fresh else 'out of date'}",
            f"next certificate: {state.next_cert or 'none'}",
            f"{SWITCH_UNIT}.timer: {state.timer_line or state.timer or 'none'}",
        ]
    )
    if not (state.prepare_hook and state.deploy_hook):
        return fail(
            cid, "the dane hooks of the certificate renewal are missing", evidence, RERUN_DANE
        )
    if source == "acme" and state.certbot_hook != "rollover":
        return fail(
            cid,
            f"certbot's deploy hook is {state.certbot_hook}: renewals would switch keys before "
            "their TLSA record is published",
            evidence,
            "run the tls step again: its deploy hook waits for the dane hook",
        )
    if state.next_cert and state.timer != "waiting":
        return fail(
            cid,
            "a key switch is stuck: the next certificate waits but no timer will serve it",
            evidence,
            "run the tls step again: it resumes the switch (the hooks' errors are in "
            "journalctl -u certbot)",
        )
    if not state.records_fresh:
        return fail(
            cid,
            "tlsa.zone is not what the served certificates need",
            evidence,
            f"{RERUN_DANE} (sudo {TLSA_SCRIPT} rewrites it)",
        )
    if state.next_cert:
        return ok(
            cid,
            "a key switch waits for its timer; the next key's record is published",
            evidence,
        )
    how = (
        "renewals publish the next key's record, switch after twice the TTL, then drop the old"
        if source == "acme"
        else f"{source} certificate: after you change it, {RERUN_DANE}"
    )
    return ok(cid, how, evidence)


@check("dane.renewal")
def renewal_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """On the server (one round trip): hooks, certbot's hook, a waiting switch, tlsa.zone."""
    source, lineage = str(params.get("source", "acme")), str(params["lineage"])
    if not safe_path(lineage):
        return fail("dane.renewal", f"'{lineage}' is not a file path", hint="a step bug")
    return judge_renewal(source, renewal_state(run_sections(ctx, renewal_script(lineage))))
