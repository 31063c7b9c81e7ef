"""Checks of the mail-auth step: SPF, DKIM and DMARC as the server's DNS publishes them, a
message the server sends verified against the published key, and the fail2ban jail that
guards AUTH.

DNS questions go straight to the server's address (it is authoritative for the domain), so they
prove what this server publishes before the registrar points to it; names outside the zone (an
SPF include:) are asked of the dns-zone step's resolver. The pure `analyse_*`/`judge_*`
functions decide from what was seen; the `@check` functions only gather it.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import dns.rcode
import dns.rdatatype
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from wizard import dkim
from wizard.checks.base import (
    CheckContext,
    CheckResult,
    CheckStatus,
    check,
    exit_code,
    fail,
    marker,
    ok,
    run_sections,
    warn,
)
from wizard.checks.fail2ban_regex import filter_matches_script, judge_filter_matches
from wizard.checks.params import safe_domain
from wizard.probes.dns import Answer, query
from wizard.probes.sshconfig import server_host
from wizard.shell import Shell, code, heredoc, script, sh
from wizard.spf import MAX_LOOKUPS, Lookup, LookupFailed, SpfFindings, analyse_spf

RERUN = "run the mail-auth step again"
JAIL = "postfix-auth"
KEY_TABLE = "/etc/opendkim/vps-wizard/KeyTable"
SELECTOR_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LOCAL_PART_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DELIVERY_WAIT = 15
SENDMAIL = "/usr/sbin/sendmail"


def txt_strings(answer: Answer) -> list[str]:
    """The TXT records of an answer, each as the one string its pieces make (RFC 7208 3.3)."""
    rrset = answer.rrset("answer", "TXT")
    if rrset is None:
        return []
    return [b"".join(rdata.strings).decode(errors="replace") for rdata in rrset]


def answer_values(answer: Answer, rdtype: str) -> list[str]:
    """The records of an answer: TXT as joined strings, MX as exchange names, others as text."""
    if rdtype == "TXT":
        return txt_strings(answer)
    rrset = answer.rrset("answer", rdtype)
    if rrset is None:
        return []
    if rdtype == "MX":
        return [rdata.exchange.to_text().rstrip(".").lower() for rdata in rrset]
    return [rdata.to_text() for rdata in rrset]


def server_lookup(server: str, resolver: str) -> Lookup:
    """Ask the server (authoritative for its zone) first, the resolver for anything else."""

    def lookup(name: str, rdtype: str) -> list[str]:
        answer = query(server, name, rdtype)
        if answer.authoritative:
            return answer_values(answer, rdtype)
        if resolver:
            answer = query(resolver, name, rdtype, recursion=True)
            if answer.response is not None and answer.response.rcode() in (
                dns.rcode.NOERROR,
                dns.rcode.NXDOMAIN,
            ):
                return answer_values(answer, rdtype)
        raise LookupFailed(f"{name} {rdtype}: {answer.rcode or 'no answer'}")

    return lookup


# ----------------------------------------------------------------------------- SPF


def judge_spf(findings: SpfFindings) -> CheckResult:
    """One record, a strict `all`, at most 10 lookups, and every server address passes."""
    cid = "mail-auth.spf"
    domain = findings.domain
    lines = [f"{domain} TXT: {findings.record or '(no SPF record)'}"]
    if findings.record and not findings.error:
        lines.append(f"DNS lookups: {findings.lookups} (at most {MAX_LOOKUPS})")
        lines += [f"{address}: {result}" for address, result in findings.results.items()]
        lines += [f"not followed: {item}" for item in findings.unresolved]
        lines += [f"problem: {item}" for item in findings.problems]
    evidence = "\n".join(lines)
    fix = f"{RERUN}: mail-auth.zone publishes the record and vps-wizard-zone {domain} loads it"
    if findings.error:
        return fail(cid, f"SPF of {domain}: {findings.error}", evidence, fix)
    if findings.all_qualifier not in ("-", "~"):
        shown = f"{findings.all_qualifier}all" if findings.all_qualifier else "no all"
        return fail(
            cid,
            f"the SPF record of {domain} ends in {shown}: any server may send as {domain}",
            evidence,
            f"end it in -all (or ~all while testing); {fix}",
        )
    if findings.lookups > MAX_LOOKUPS or findings.problems:
        return fail(
            cid,
            f"the SPF record of {domain} needs {findings.lookups} DNS lookups"
            + (f" and has problems: {'; '.join(findings.problems)}" if findings.problems else ""),
            evidence,
            "receivers give up after 10 lookups (permerror): replace include:s by the ip4:/ip6: "
            f"ranges they stand for; {fix}",
        )
    refused = {a: r for a, r in findings.results.items() if r != "pass"}
    if refused:
        return fail(
            cid,
            f"the SPF record of {domain} does not authorize "
            + ", ".join(f"{a} ({r})" for a, r in refused.items()),
            evidence,
            f"mail from this server would fail SPF: the record must list ip4:/ip6: of the "
            f"server's addresses (the dns-zone answers); {fix}",
        )
    if findings.unresolved:
        return warn(
            cid,
            f"the SPF record of {domain} passes, but {len(findings.unresolved)} include(s) could "
            "not be read: the lookup count may be higher",
            evidence,
            "check that the included domains exist; set the dns-zone step's resolver so the "
            "check can read them",
        )
    addresses = ", ".join(findings.results) or "(no address given)"
    return ok(
        cid,
        f"SPF of {domain} authorizes {addresses}, ends in {findings.all_qualifier}all, "
        f"{findings.lookups} lookup(s)",
        evidence,
    )


@check("mail-auth.spf")
def spf_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The domain's SPF record, asked of the server, evaluated for its own addresses."""
    domain = str(params["domain"])
    addresses = [str(a) for a in (params.get("ipv4"), params.get("ipv6")) if a]
    lookup = server_lookup(server_host(ctx.address), str(params.get("resolver") or ""))
    return judge_spf(analyse_spf(domain, addresses, lookup))


# ----------------------------------------------------------------------------- DMARC

STRONG_POLICIES = ("quarantine", "reject")


def parse_dmarc(text: str) -> dict[str, str]:
    """The tags of a DMARC record; ValueError unless it starts with v=DMARC1 and has p=."""
    try:
        tags = dkim.parse_tags(text)
    except dkim.DkimError as error:
        raise ValueError(str(error)) from None
    if not re.match(r"^\s*v\s*=\s*DMARC1\s*(;|$)", text):
        raise ValueError("a DMARC record starts with v=DMARC1")
    if "p" not in tags:
        raise ValueError("p= (the policy) is missing")
    if tags["p"].lower() not in ("none", *STRONG_POLICIES):
        raise ValueError(f"p={tags['p']} is not none, quarantine or reject")
    return tags


def judge_dmarc(domain: str, records: Sequence[str], error: str = "") -> CheckResult:
    """One v=DMARC1 record at _dmarc.DOMAIN, its policy quarantine or reject for all mail."""
    cid = "mail-auth.dmarc"
    name = f"_dmarc.{domain}"
    evidence = f"{name} TXT: " + (" | ".join(records) or error or "(none)")
    fix = f"{RERUN}: mail-auth.zone publishes the record and vps-wizard-zone {domain} loads it"
    dmarc = [r for r in records if r.lstrip().upper().startswith("V=DMARC1")]
    if error or not dmarc:
        return fail(
            cid, f"no DMARC record at {name}" + (f" ({error})" if error else ""), evidence, fix
        )
    if len(dmarc) > 1:
        return fail(
            cid,
            f"{len(dmarc)} DMARC records at {name}: receivers ignore them all",
            evidence,
            f"keep one; {fix}",
        )
    try:
        tags = parse_dmarc(dmarc[0])
    except ValueError as problem:
        return fail(cid, f"the DMARC record of {domain} is invalid: {problem}", evidence, fix)
    policy = tags["p"].lower()
    if policy not in STRONG_POLICIES:
        return fail(
            cid,
            f"DMARC of {domain} is p={policy}: mail failing SPF and DKIM is still delivered",
            evidence,
            f"publish p=quarantine or p=reject (the step's DMARC policy); {fix}",
        )
    weaker = []
    if tags.get("sp", policy).lower() not in STRONG_POLICIES:
        weaker.append(f"sp={tags['sp']} leaves the subdomains open")
    if tags.get("pct", "100") != "100":
        weaker.append(f"pct={tags['pct']} applies the policy to part of the mail only")
    if weaker:
        return warn(
            cid, f"DMARC of {domain} is p={policy}, but " + "; ".join(weaker), evidence, fix
        )
    return ok(cid, f"DMARC of {domain}: p={policy}", evidence)


@check("mail-auth.dmarc")
def dmarc_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The DMARC record, asked of the server."""
    domain = str(params["domain"])
    answer = query(server_host(ctx.address), f"_dmarc.{domain}", "TXT")
    error = "" if answer.authoritative else f"no authoritative answer: {answer.rcode}"
    return judge_dmarc(domain, txt_strings(answer), error)


# ----------------------------------------------------------------------------- DKIM record


def key_fingerprint(der: bytes) -> str:
    """A short SHA-256 of a public key (SubjectPublicKeyInfo), to tell keys apart in evidence."""
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def safe_names(domain: str, selector: str) -> bool:
    """A domain and selector that may go into a shell command as they are."""
    return safe_domain(domain) and bool(SELECTOR_RE.match(selector))


def server_key_script(domain: str, selector: str) -> Shell:
    """The key OpenDKIM signs with for the selector (from its KeyTable), and its public half
    derived on the server: the private key never leaves it."""
    return script(
        sh(
            "k=$(awk -v n={name} '$1 == n {{ n = split($2, f, \":\"); print f[n] }}' "
            "{table} 2>/dev/null)",
            name=f"{selector}._domainkey.{domain}",
            table=KEY_TABLE,
        ),
        marker("PATH"),
        code('echo "$k"'),
        marker("PUBLIC"),
        code('[ -n "$k" ] && openssl pkey -in "$k" -pubout -outform DER 2>&1 | base64 -w0'),
        code("true"),
    )


def server_public_key(sections: Mapping[str, str]) -> tuple[bytes | None, str]:
    """The DER public key the script printed, or None and what went wrong."""
    text = sections.get("PUBLIC", "").strip()
    try:
        der = base64.b64decode(text, validate=True)
        load_der_public_key(der)
        return der, ""
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        return None, text[:200] or "no key read"


def published_key(records: Sequence[str]) -> tuple[rsa.RSAPublicKey | None, str]:
    """The key of the one DKIM key record among the TXT records, or None and why."""
    keys = [r for r in records if "p=" in r]
    if len(keys) != 1:
        return None, f"{len(keys)} key records" if keys else "no key record"
    try:
        return dkim.public_key(keys[0]), ""
    except dkim.DkimError as error:
        return None, str(error)


def der(key: rsa.RSAPublicKey) -> bytes:
    """The key as DER SubjectPublicKeyInfo, the form p= and `openssl pkey -pubout` use."""
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def judge_dkim_record(
    domain: str, selector: str, sections: Mapping[str, str], records: Sequence[str], error: str
) -> CheckResult:
    """The key published at SELECTOR._domainkey.DOMAIN is the one OpenDKIM signs with."""
    cid = "mail-auth.dkim_record"
    name = f"{selector}._domainkey.{domain}"
    path = sections.get("PATH", "").strip()
    server_der, server_problem = server_public_key(sections) if path else (None, "")
    dns_key, dns_problem = published_key(records) if not error else (None, error)
    dns_der = der(dns_key) if dns_key else None
    evidence = "\n".join(
        [
            f"OpenDKIM key for {name}: {path or '(none in ' + KEY_TABLE + ')'}",
            "its public key: "
            + (key_fingerprint(server_der) if server_der else server_problem or "(none)"),
            f"{name} TXT: " + (" | ".join(r[:60] + "..." for r in records) or error or "(none)"),
            "published key: " + (key_fingerprint(dns_der) if dns_der else dns_problem),
        ]
    )
    republish = (
        f"{RERUN}: it writes dkim.zone from the key on the server (the private key never "
        f"leaves it) and rebuilds the zone with vps-wizard-zone"
    )
    if not path:
        return fail(
            cid,
            f"OpenDKIM has no key for {name}",
            evidence,
            f"{RERUN}: it generates the key on the server and writes the KeyTable",
        )
    if server_der is None:
        return fail(
            cid,
            f"the key of {name} cannot be read on the server",
            evidence,
            f"{RERUN} (opendkim-genkey makes {path}); openssl must be installed",
        )
    if dns_der is None:
        return fail(
            cid, f"no usable DKIM key published at {name}: {dns_problem}", evidence, republish
        )
    if dns_der != server_der:
        return fail(
            cid,
            f"the key published at {name} is not the one OpenDKIM signs with: receivers "
            "reject the signatures",
            evidence,
            f"the key changed on the server, or the TXT record was edited: {republish}",
        )
    return ok(cid, f"{name} publishes the server's key ({key_fingerprint(dns_der)})", evidence)


@check("mail-auth.dkim_record")
def dkim_record_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The server's public key (one round trip) against the TXT the server publishes."""
    domain, selector = str(params["domain"]), str(params["selector"])
    if not safe_names(domain, selector):
        return fail(
            "mail-auth.dkim_record", f"'{selector}' / '{domain}' are not names", hint="a step bug"
        )
    name = f"{selector}._domainkey.{domain}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(query, server_host(ctx.address), name, "TXT")
        sections = run_sections(ctx, server_key_script(domain, selector))
        answer = future.result()
    error = "" if answer.authoritative else f"no authoritative answer: {answer.rcode}"
    return judge_dkim_record(domain, selector, sections, txt_strings(answer), error)


# ----------------------------------------------------------------------------- DKIM signature


def signed_message_script(domain: str, mailbox: str, token: str) -> Shell:
    """Send a message with sendmail on the server (Postfix's non-SMTP path, which OpenDKIM
    signs), wait for it in the mailbox's Maildir, print it in base64 and remove it."""
    sender = f"postmaster@{domain}"
    recipient = f"{mailbox}@{domain}"
    maildir = f"/var/mail/vhosts/{domain}/{mailbox}"
    message = (
        f"From: vps-wizard check <{sender}>\nTo: <{recipient}>\n"
        f"Subject: vps-wizard DKIM check {token}\n\n"
        "Sent by the mail-auth.dkim_signature check of vps-wizard; removed once read.\n"
    )
    return script(
        marker("SENT"),
        # The group reads the here-document; sendmail reads the decoded message.
        heredoc(
            sh(
                "{{ base64 -d | {sendmail} -f {sender} {recipient} 2>&1; }}",
                sendmail=SENDMAIL,
                sender=sender,
                recipient=recipient,
            ),
            message.encode(),
        ),
        code('echo "exit $?"'),
        marker("MESSAGE"),
        sh(
            "i=0; while [ $i -lt {tries} ]; do\n"
            "  f=$(grep -rlF -- {token} {new} {cur} 2>/dev/null | head -n 1)\n"
            '  if [ -n "$f" ]; then base64 -w0 "$f"; rm -f "$f"; break; fi\n'
            "  sleep 0.25; i=$((i + 1))\n"
            "done",
            tries=DELIVERY_WAIT * 4,
            token=token,
            new=f"{maildir}/new",
            cur=f"{maildir}/cur",
        ),
        marker("LOG"),
        code("journalctl -u opendkim --since '-2min' --no-pager -o cat 2>/dev/null | tail -n 3"),
        code("true"),
    )


def judge_dkim_signature(
    domain: str, selector: str, sections: Mapping[str, str], key_records: Sequence[str]
) -> CheckResult:
    """The message arrived, carries a signature by d=DOMAIN s=SELECTOR, and it verifies."""
    cid = "mail-auth.dkim_signature"
    sent = sections.get("SENT", "").strip()
    log = sections.get("LOG", "").strip()
    evidence = [f"sendmail: {sent or '(no output)'}"]
    try:
        message = base64.b64decode(sections.get("MESSAGE", "").strip(), validate=True)
    except binascii.Error:
        message = b""
    if not message:
        evidence.append(f"opendkim log: {log or '(empty)'}")
        return fail(
            cid,
            f"the test message did not arrive within {DELIVERY_WAIT} s",
            "\n".join(evidence),
            "see sudo journalctl -u postfix@- -u opendkim -n 30; the mail step's mail.delivery "
            "check tells whether delivery works at all",
        )
    try:
        found = dkim.signatures(message)
    except dkim.DkimError as error:
        return fail(
            cid,
            f"the test message cannot be read: {error}",
            "\n".join(evidence),
            "a bug of the check: report it with the evidence",
        )
    evidence += [
        f"DKIM-Signature: d={s.domain} s={s.selector} c={s.tags.get('c', '')} "
        f"h={s.tags.get('h', '')}"
        for s in found
    ]
    mine = [s for s in found if s.domain == domain.lower() and s.selector == selector.lower()]
    if not mine:
        evidence.append(f"opendkim log: {log or '(empty)'}")
        return fail(
            cid,
            f"the message sent by the server has no DKIM signature by d={domain} s={selector}",
            "\n".join(evidence),
            "OpenDKIM must run and Postfix must hand it the mail: systemctl status opendkim; "
            f"postconf smtpd_milters non_smtpd_milters; {RERUN}",
        )
    key, problem = published_key(key_records)
    if key is None:
        return fail(
            cid,
            f"no usable key published at {selector}._domainkey.{domain}: {problem}",
            "\n".join(evidence),
            f"see mail-auth.dkim_record; {RERUN}",
        )
    verdict = dkim.verify(message, mine[0], key)
    evidence.append(f"verification: {verdict.reason}")
    if not verdict.valid:
        return fail(
            cid,
            f"the DKIM signature of the server's mail does not verify: {verdict.reason}",
            "\n".join(evidence),
            "when mail-auth.dkim_record fails too, the published key is not OpenDKIM's: "
            f"{RERUN}; otherwise something changes the message after signing (a milter or "
            "content filter after OpenDKIM)",
        )
    return ok(
        cid,
        f"mail sent by the server is signed, and the signature verifies "
        f"with {selector}._domainkey.{domain}",
        "\n".join(evidence),
    )


@check("mail-auth.dkim_signature")
def dkim_signature_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """A message sent by the server, its signature verified here with the published key."""
    domain, selector = str(params["domain"]), str(params["selector"])
    mailbox = str(params["mailbox"])
    if not safe_names(domain, selector) or not LOCAL_PART_RE.match(mailbox):
        return fail(
            "mail-auth.dkim_signature",
            f"'{mailbox}@{domain}' / '{selector}' are not names",
            hint="a step bug",
        )
    token = f"vps-wizard-dkim-{uuid.uuid4().hex}"
    name = f"{selector}._domainkey.{domain}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(query, server_host(ctx.address), name, "TXT")
        sections = run_sections(ctx, signed_message_script(domain, mailbox, token))
        answer = future.result()
    return judge_dkim_signature(domain, selector, sections, txt_strings(answer))


# ----------------------------------------------------------------------------- fail2ban


def jail_script() -> Shell:
    """The jail's status, then fail2ban-regex with the seed's lines (the fail2ban step's)."""
    return script(
        marker("STATUS"),
        sh("fail2ban-client status {jail} 2>&1", jail=JAIL),
        code("rc=$?"),
        marker("STATUS_RC"),
        code('echo "$rc"'),
        marker("REGEX"),
        # A subshell: the filter script's exit ends it, not this script.
        sh("(\n{regex})", regex=filter_matches_script(JAIL)),
        code("rc=$?"),
        marker("REGEX_RC"),
        code('echo "$rc"'),
    )


def judge_jail(sections: Mapping[str, str]) -> CheckResult:
    """The postfix-auth jail runs, and its filter catches the series' flood lines."""
    cid = "mail-auth.fail2ban"
    status = sections.get("STATUS", "").strip()
    status_rc = exit_code(sections.get("STATUS_RC", ""))
    if status_rc != 0:
        return fail(
            cid,
            f"the fail2ban jail {JAIL} is not running",
            status[-400:] or f"fail2ban-client exited {status_rc}",
            f"run the fail2ban step again: it turns {JAIL} on once Postfix is installed; if "
            "fail2ban itself is down: sudo systemctl restart fail2ban",
        )
    filtered = judge_filter_matches(
        JAIL, sections.get("REGEX", ""), exit_code(sections.get("REGEX_RC", ""))
    )
    evidence = f"{status}\n{filtered.evidence}"
    if filtered.status is not CheckStatus.OK:
        return fail(cid, filtered.summary, evidence, filtered.hint)
    return ok(
        cid, f"the {JAIL} jail runs and its filter catches the AUTH/UNKNOWN/EHLO floods", evidence
    )


@check("mail-auth.fail2ban")
def jail_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """fail2ban-client and fail2ban-regex on the server (one round trip)."""
    return judge_jail(run_sections(ctx, jail_script()))
