"""Checks of the hsts step: exactly one Strict-Transport-Security header with the step's values
on the HTTPS answers and on the HTTP redirects, and the HSTS preload list's rules, each by name.

Everything goes to the server's address with the site's names (SNI and Host): no DNS lookup is
made, so "www has an address" is read as "www is one of the site's names", and www is always
asked over TLS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from wizard.checks.base import CheckContext, CheckResult, check, fail, ok
from wizard.checks.params import names_of, safe_path
from wizard.probes.http import REDIRECTS, HttpAnswer, fetch, follow_redirects
from wizard.probes.sshconfig import server_host
from wizard.probes.tls import CertInfo, Handshake, cert_info, handshake, verify_error
from wizard.publicsuffix import load_rules, registrable_domain
from wizard.shell import sh

RERUN_HSTS = "run the hsts step again"
PRELOAD_MIN_AGE = 31536000
MAX_REDIRECTS = 3
WEAK_HASHES = ("sha1", "md5")
# hstspreload.org's rules, by the names the check reports them under.
REGISTRABLE = "a registrable domain (not a subdomain, not a public suffix)"
SAME_HOST_FIRST = "redirect to https on the same host first"
FEW_REDIRECTS = "at most 3 redirects, all to https"
WWW_TLS = "www answers over TLS"
VALID_CHAIN = "valid chain, no SHA-1"
PRELOAD_HEADER = "one header with max-age >= 31536000, includeSubDomains, preload"


def parse_hsts(value: str) -> dict[str, str]:
    """The directives of one Strict-Transport-Security value, lower-cased names."""
    directives = {}
    for part in value.split(";"):
        name, _, arg = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = arg.strip().strip('"')
    return directives


def header_problem(values: Sequence[str], min_age: int, preload: bool) -> str:
    """ "" when there is exactly one header with max-age >= min_age, includeSubDomains and (when
    asked) preload; else what is wrong."""
    if not values:
        return "no Strict-Transport-Security header"
    if len(values) > 1:
        return f"{len(values)} Strict-Transport-Security headers, not one"
    directives = parse_hsts(values[0])
    age = directives.get("max-age", "")
    if not re.fullmatch(r"\d+", age) or int(age) < min_age:
        return f"max-age is {age or 'missing'}, under {min_age}"
    if "includesubdomains" not in directives:
        return "includeSubDomains is missing"
    if preload and "preload" not in directives:
        return "preload is missing"
    return ""


# ----------------------------------------------------------------------------- hsts.header


def judge_header(answers: Sequence[HttpAnswer], min_age: int, preload: bool) -> CheckResult:
    """Each answer (HTTPS pages and HTTP redirects) carries exactly one good header."""
    cid = "hsts.header"
    lines, wrong = [], []
    for answer in answers:
        values = answer.values("strict-transport-security")
        problem = answer.problem or header_problem(values, min_age, preload)
        lines.append(f"{answer.summary()}: {problem or values[0]}")
        if problem:
            wrong.append(f"{answer.url}: {problem}")
    evidence = "\n".join(lines)
    if wrong:
        return fail(
            cid,
            "; ".join(wrong),
            evidence,
            f"{RERUN_HSTS}: it sets one header at server level (Apache: Header always set). Two "
            "headers come from a second add_header/Header line, in a location of the site or in "
            "the application (PHP header()): remove that one",
        )
    return ok(cid, f"one Strict-Transport-Security header on {len(answers)} answers", evidence)


@check("hsts.header")
def header_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """HTTPS pages and HTTP redirects of each name."""
    address = server_host(ctx.address)
    urls = [
        f"{scheme}://{name}/" for name in names_of(params["names"]) for scheme in ("https", "http")
    ]
    answers = [fetch(address, url) for url in urls]
    preload = params.get("preload", True) not in (False, "false", "False", "")
    return judge_header(answers, int(params.get("max_age", PRELOAD_MIN_AGE)), preload)


# ----------------------------------------------------------------------------- hsts.preload


def judge_preload(
    domain: str,
    hops: Sequence[HttpAnswer],
    www: Handshake,
    chain_error: str,
    chain: Sequence[CertInfo],
    https_answer: HttpAnswer,
    suffix_rules: frozenset[str] | None,
) -> CheckResult:
    """hstspreload.org's rules, each reported by name.

    `hops`: http://domain/ and the redirects followed from it (at most 3, on this server);
    `www`: a TLS handshake with www.domain; `chain_error`: the verification of https://domain;
    `chain`: the certificates the server sends; `https_answer`: https://domain/;
    `suffix_rules`: the Public Suffix List, None when this machine has none.
    """
    cid = "hsts.preload"
    rules: list[tuple[str, str]] = []  # (rule, "" or what breaks it)
    notes: list[str] = []
    if suffix_rules is None:
        notes.append(f"{REGISTRABLE}: not checked, no public suffix list on this machine")
    else:
        registrable = registrable_domain(domain, suffix_rules)
        rules.append(
            (
                REGISTRABLE,
                ""
                if registrable == domain
                else f"{domain} is a public suffix"
                if registrable is None
                else f"{domain} is under {registrable}: only {registrable} can be submitted",
            )
        )
    first = hops[0] if hops else HttpAnswer(f"GET http://{domain}/", error="not tried")
    same_host = f"https://{domain}/"
    rules.append(
        (
            SAME_HOST_FIRST,
            ""
            if first.status in (301, 308) and first.location.startswith(same_host)
            else f"http://{domain}/ answers {first.problem or first.status} "
            f"{first.location or ''}".strip()
            + (
                " (to www first: an error for preload)"
                if f"://www.{domain}" in first.location
                else ""
            ),
        )
    )
    redirects = [hop for hop in hops if hop.status in REDIRECTS]
    insecure = [hop.location for hop in redirects if not hop.location.startswith("https://")]
    too_many = len(redirects) > MAX_REDIRECTS or (hops and hops[-1].status in REDIRECTS)
    rules.append(
        (
            FEW_REDIRECTS,
            f"redirects to {', '.join(insecure)}"
            if insecure
            else (f"more than {MAX_REDIRECTS} redirects" if too_many else ""),
        )
    )
    rules.append(
        (
            WWW_TLS,
            f"www.{domain}: {www.error}" if www.error else "",
        )
    )
    weak = [c.subject for c in chain if c.signature_hash in WEAK_HASHES and not c.self_signed]
    rules.append(
        (
            VALID_CHAIN,
            (chain_error and f"https://{domain}: {chain_error}")
            or (f"SHA-1 or MD5 signature on {', '.join(weak)}" if weak else ""),
        )
    )
    values = https_answer.values("strict-transport-security")
    rules.append(
        (
            PRELOAD_HEADER,
            https_answer.problem or header_problem(values, PRELOAD_MIN_AGE, True),
        )
    )
    evidence = "\n".join(
        [
            *(f"{name}: {'ok' if not why else 'FAILS: ' + why}" for name, why in rules),
            *notes,
            "---",
        ]
        + [hop.summary() for hop in hops]
    )
    broken = [name for name, why in rules if why]
    if broken:
        hints = {
            REGISTRABLE: "preload is for a registrable domain: run the hsts step on that "
            "domain's vhost, or turn preload off for this one (includeSubDomains of the "
            "registrable domain covers it once that is preloaded)",
            SAME_HOST_FIRST: "port 80 must send http://domain to https://domain (same name) before "
            "any move to www: run the tls step again",
            FEW_REDIRECTS: "shorten the redirect chain and keep it on https: "
            "run the tls step again",
            WWW_TLS: "www needs a certificate and an HTTPS server too: run the tls step again",
            VALID_CHAIN: "serve the full chain from a CA browsers trust (see tls.certificate)",
            PRELOAD_HEADER: RERUN_HSTS,
        }
        return fail(
            cid,
            f"{domain} is not eligible for HSTS preload: {', '.join(broken)}",
            evidence,
            "; ".join(hints[name] for name in broken),
        )
    return ok(cid, f"{domain} meets every HSTS preload rule", evidence)


@check("hsts.preload")
def preload_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Every preload rule, from the outside; the CA file (a private CA's) read on the server.
    With preload off (a self-signed certificate, say) the rules are not the step's promise."""
    domain, ca_file = str(params["domain"]), str(params.get("ca_file") or "")
    if params.get("preload") is False:
        return ok("hsts.preload", f"preload is off for {domain}: its rules are not checked")
    cadata = ""
    if ca_file:
        if not safe_path(ca_file):
            return fail("hsts.preload", f"'{ca_file}' is not a file path", hint="a step bug")
        cadata = ctx.remote.run(sh("cat {file}", file=ca_file)).stdout
    address = server_host(ctx.address)
    names = (domain, f"www.{domain}")
    hops = follow_redirects(address, f"http://{domain}/", names, MAX_REDIRECTS + 1)
    www = handshake(address, f"www.{domain}")
    served = handshake(address, domain)
    chain = [cert_info(served.leaf)] if served.leaf else []
    error = verify_error(address, domain, cadata)
    page = fetch(address, f"https://{domain}/")
    return judge_preload(domain, hops, www, error, chain, page, load_rules())
