"""Checks of the tls step, from the wizard's machine with Python's ssl and `cryptography` (never
the openssl command: what a client sees is what counts), plus the key match and the renewal on
the server.

Every connection goes to the server's address with the site's name as SNI and Host header, so
the checks work before DNS points to the server. The pure `judge_*` functions take what was
seen and decide; the `@check` functions only gather it.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    fail,
    marker,
    ok,
    run_sections,
    split_sections,
    warn,
)
from wizard.checks.params import names_of, safe_path
from wizard.checks.verdicts import (
    CLOSED_HINT,
    CLOSED_PORT,
    judge_profiles,
    judge_tally,
    tally_versions,
)
from wizard.probes.http import UNKNOWN_NAME, HttpAnswer, described, fetch, http_get
from wizard.probes.sshconfig import server_host
from wizard.probes.tls import (
    VERSIONS,
    CertInfo,
    Handshake,
    cert_info,
    handshake,
    name_matches,
    plain_opener,
    verify_error,
)
from wizard.probes.tlsscan import INTERMEDIATE_CIPHERS, scan
from wizard.shell import Shell, code, script, sh

RERUN_TLS = "run the tls step again"
EXPIRY_DAYS = 30
# RSA key exchange, no forward secrecy: a recorded session opens with the server's key later.
NON_FS_CIPHERS = (
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA"
)


# ----------------------------------------------------------------------------- tls.certificate


NO_CONNECTION = "no connection"


def judge_certificate(
    names: Sequence[str],
    source: str,
    served: Mapping[str, CertInfo | str],
    chain_errors: Mapping[str, str],
    key_match: str,
    now: datetime.datetime,
) -> CheckResult:
    """Every name gets a certificate that covers it, verifies (unless self-signed was chosen),
    is not expiring within 30 days, and whose key matches the key file on the server.

    `served` is the parsed leaf per name or why none came; `key_match` is "match", "mismatch"
    or a reason it could not be compared.
    """
    cid = "tls.certificate"
    lines: list[str] = []
    problems: list[tuple[str, str]] = []
    for name in names:
        info = served.get(name, "not tried")
        if isinstance(info, str):
            lines.append(f"{name}: no certificate ({info})")
            if info.startswith(NO_CONNECTION):
                problems.append((f"{name}: port 443 {CLOSED_PORT}", "closed"))
            else:
                problems.append((f"{name} gets no certificate", "none"))
            continue
        days = (info.not_after - now).total_seconds() / 86400
        lines.append(
            f"{name}: {info.subject}, issuer {info.issuer}, names {', '.join(info.names)}, "
            f"expires {info.not_after:%Y-%m-%d} ({days:.0f} days), signed with "
            f"{info.signature_hash}; chain: {chain_errors.get(name) or 'valid'}"
        )
        if days < 0:
            problems.append((f"the certificate of {name} has expired", "renew"))
        elif days < EXPIRY_DAYS:
            problems.append((f"the certificate of {name} expires in {days:.0f} days", "renew"))
        if not name_matches(name, info.names):
            problems.append((f"the certificate does not cover {name}", "names"))
        if source == "self-signed":
            if not info.self_signed:
                problems.append((f"{name} serves a certificate that is not self-signed", "src"))
        elif chain_errors.get(name) and days >= 0:
            problems.append((f"the chain of {name} does not verify", "chain"))
    lines.append(f"key file: {key_match}")
    if key_match != "match":
        problems.append(("the private key does not match the certificate", "key"))
    evidence = "\n".join(lines)
    if problems:
        hints = {
            "renew": "renew it: sudo certbot renew --force-renewal (acme), or install a new "
            f"certificate, then {RERUN_TLS}",
            "names": f"{RERUN_TLS}: it asks for the domain and www in one certificate",
            "chain": "the server must send the full chain (fullchain.pem, not cert.pem) signed by "
            f"a CA clients trust; for a private CA, give its file as ca_file; {RERUN_TLS}",
            "key": "the certificate and key files are from different pairs: install the key "
            f"that was issued with the certificate, or {RERUN_TLS} to get a new pair",
            "src": RERUN_TLS,
            "closed": CLOSED_HINT,
            "none": "is port 443 open and served?",
        }
        kinds = dict.fromkeys(kind for _, kind in problems)
        hint = "; ".join(hints.get(k, "see the evidence") for k in kinds)
        return fail(cid, "; ".join(p for p, _ in problems), evidence, hint)
    kind = "self-signed, as chosen (browsers warn)" if source == "self-signed" else "valid"
    return ok(cid, f"{kind} certificate for {', '.join(names)}, key matches", evidence)


def key_match_script(cert: str, key: str, ca_file: str = "") -> Shell:
    """Compare the public key of the certificate file with the one of the key file, on the
    server: the private key never leaves it. And print the CA file, when there is one."""
    return script(
        marker("CERT"),
        sh("openssl x509 -noout -pubkey -in {cert} 2>&1 | sha256sum", cert=cert),
        marker("KEY"),
        sh("openssl pkey -pubout -in {key} 2>&1 | sha256sum", key=key),
        marker("CA"),
        sh("cat {ca_file}", ca_file=ca_file) if ca_file else code("true"),
    )


@check("tls.certificate")
def certificate_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Each name's served certificate: chain, names, expiry; and the key files match."""
    names = names_of(params["names"])
    source = str(params.get("source", "acme"))
    cert, key, ca_file = str(params["cert"]), str(params["key"]), str(params.get("ca_file") or "")
    for path in (cert, key, *([ca_file] if ca_file else [])):
        if not safe_path(path):
            return fail("tls.certificate", f"'{path}' is not a file path", hint="a step bug")
    sections = run_sections(ctx, key_match_script(cert, key, ca_file))
    cert_sum, key_sum = sections.get("CERT", ""), sections.get("KEY", "")
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of ""
    if empty in (cert_sum, key_sum) or not cert_sum or not key_sum:
        key_match = "could not read the certificate or key file"
    else:
        key_match = "match" if cert_sum == key_sum else "mismatch"
    cadata = sections.get("CA", "") if ca_file else ""
    address = server_host(ctx.address)
    served: dict[str, CertInfo | str] = {}
    errors: dict[str, str] = {}
    for name in names:
        seen = handshake(address, name)
        if seen.leaf:
            served[name] = cert_info(seen.leaf)
        elif seen.no_connection:
            served[name] = f"{NO_CONNECTION}: {seen.error}"
        else:
            served[name] = seen.error or "no certificate"
        if source != "self-signed" and seen.leaf:
            errors[name] = verify_error(address, name, cadata)
    now = datetime.datetime.now(datetime.UTC)
    return judge_certificate(names, source, served, errors, key_match, now)


# ----------------------------------------------------------------------------- tls.protocols


def judge_protocols(host: str, seen: Mapping[str, Handshake]) -> CheckResult:
    """TLS 1.0 and 1.1 refused, 1.2 and 1.3 accepted; untestable old versions only warn."""
    return judge_tally(
        "tls.protocols",
        host,
        tally_versions(seen),
        "only TLS 1.2 and 1.3 should be on (ssl_protocols TLSv1.2 TLSv1.3; Apache: "
        f"SSLProtocol -all +TLSv1.2 +TLSv1.3): {RERUN_TLS} to restore its configuration",
        "TLS 1.0 and 1.1 refused, 1.2 and 1.3 accepted",
    )


@check("tls.protocols")
def protocols_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Offer each TLS version alone and see which the server accepts."""
    host, address = str(params["host"]), server_host(ctx.address)
    seen = {label: handshake(address, host, version=v) for label, v in VERSIONS.items()}
    return judge_protocols(host, seen)


# ----------------------------------------------------------------------------- tls.ciphers


def judge_ciphers(host: str, attempt: Handshake) -> CheckResult:
    """No cipher without forward secrecy is accepted on TLS 1.2."""
    cid = "tls.ciphers"
    evidence = f"offered on TLS 1.2 only RSA key exchange: {NON_FS_CIPHERS}\n" + (
        f"refused ({attempt.error})" if attempt.error else f"accepted: {attempt.cipher}"
    )
    if attempt.local:
        return warn(cid, "could not test: this machine cannot offer them", evidence, "")
    if attempt.error and not attempt.refused_by_server:
        # A closed port or a timeout refuses every cipher too, and proves nothing.
        return fail(cid, f"{host}: no TLS handshake: port 443 {CLOSED_PORT}", evidence, CLOSED_HINT)
    if not attempt.error:
        return fail(
            cid,
            f"{host} accepts {attempt.cipher}, without forward secrecy",
            evidence,
            f"keep Mozilla's intermediate list (ECDHE only): {RERUN_TLS}",
        )
    return ok(cid, f"{host} refuses every cipher without forward secrecy on TLS 1.2", evidence)


@check("tls.ciphers")
def ciphers_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Offer only non-forward-secret suites on TLS 1.2 and expect a refusal."""
    host = str(params["host"])
    attempt = handshake(
        server_host(ctx.address), host, version=ssl.TLSVersion.TLSv1_2, ciphers=NON_FS_CIPHERS
    )
    return judge_ciphers(host, attempt)


# ----------------------------------------------------------------------------- tls.profile


@check("tls.profile")
def profile_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Find every version, cipher suite and group 443 takes and judge them (probes.tlsscan)."""
    host = str(params["host"])
    accepted = scan(plain_opener(server_host(ctx.address), 443), host)
    return judge_profiles(
        "tls.profile",
        host,
        {443: accepted},
        "nginx: ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers "
        f"{INTERMEDIATE_CIPHERS}; ssl_ecdh_curve X25519:prime256v1:secp384r1 (Apache: "
        "SSLProtocol, SSLCipherSuite, SSLOpenSSLConfCmd Curves), set once for every HTTPS "
        f"server: {RERUN_TLS} to restore its configuration",
        f"keep Mozilla's intermediate list (ECDHE only): {RERUN_TLS}",
    )


# ----------------------------------------------------------------------------- tls.alpn_h2


def judge_alpn(host: str, attempt: Handshake) -> CheckResult:
    """HTTP/2 is chosen through ALPN when the client offers h2 and http/1.1."""
    cid = "tls.alpn_h2"
    evidence = f"offered h2, http/1.1: {attempt.error or ('chose ' + (attempt.alpn or 'nothing'))}"
    if attempt.no_connection:
        return fail(cid, f"{host}: no TLS handshake: port 443 {CLOSED_PORT}", evidence, CLOSED_HINT)
    if attempt.error:
        return fail(cid, f"{host}: no TLS handshake", evidence, "is port 443 open and served?")
    if attempt.alpn != "h2":
        return fail(
            cid,
            f"{host} does not offer HTTP/2",
            evidence,
            f"nginx: listen 443 ssl http2; Apache: Protocols h2 http/1.1 and mod_http2 "
            f"(with MPM event): {RERUN_TLS}",
        )
    return ok(cid, f"{host} speaks HTTP/2 (ALPN h2)", evidence)


@check("tls.alpn_h2")
def alpn_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Offer h2 and http/1.1 with ALPN."""
    host = str(params["host"])
    return judge_alpn(host, handshake(server_host(ctx.address), host, alpn=("h2", "http/1.1")))


# ----------------------------------------------------------------------------- tls.redirect

REDIRECT_PATH = "vps-wizard-tls-check?x=1"


def judge_redirect(answers: Sequence[tuple[str, HttpAnswer]]) -> CheckResult:
    """http://name/path answers 301 to https://name/path (same name, path kept) for each name."""
    cid = "tls.redirect"
    evidence = "\n".join(a.summary() for _, a in answers)
    wrong = []
    for name, answer in answers:
        want = f"https://{name}/{REDIRECT_PATH}"
        if answer.error or answer.status != 301 or answer.location != want:
            wrong.append(name)
    if wrong:
        return fail(
            cid,
            f"http://{wrong[0]} does not redirect (301) to https://{wrong[0]}",
            evidence,
            f"{RERUN_TLS}: port 80 answers every request with a 301 to the same name over "
            "HTTPS (the ACME challenges excepted)",
        )
    return ok(cid, "HTTP redirects permanently to HTTPS on the same name", evidence)


@check("tls.redirect")
def redirect_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Each name over HTTP redirects to itself over HTTPS."""
    address = server_host(ctx.address)
    answers = [
        (name, fetch(address, f"http://{name}/{REDIRECT_PATH}"))
        for name in names_of(params["names"])
    ]
    return judge_redirect(answers)


# ----------------------------------------------------------------------------- tls.renewal


def renewal_script(domain: str, ca_bundle: str, server: str) -> Shell:
    """certbot's timer, the deploy hook, and a dry run of the renewal against the CA.

    --server is given explicitly: without it certbot's dry run goes to Let's Encrypt's staging
    directory whatever the lineage's server (Let's Encrypt's production URL still maps to it).
    """
    env = sh("REQUESTS_CA_BUNDLE={bundle} ", bundle=ca_bundle) if ca_bundle else code("")
    return script(
        marker("TIMER"),
        code("systemctl is-active certbot.timer 2>&1; systemctl is-enabled certbot.timer 2>&1"),
        marker("HOOK"),
        code(
            "[ -x /etc/letsencrypt/renewal-hooks/deploy/50-vps-wizard ] && echo present || "
            "echo missing"
        ),
        marker("DRYRUN"),
        sh(
            "{env}certbot renew --dry-run --no-random-sleep-on-renew --cert-name {domain} "
            "--server {server} 2>&1 | tail -n 8",
            env=env,
            domain=domain,
            server=server,
        ),
    )


def judge_renewal(source: str, timer: str, hook: str, dry_run: str) -> CheckResult:
    """The timer is active and enabled, the deploy hook is there, and the dry run succeeds."""
    cid = "tls.renewal"
    if source != "acme":
        return ok(cid, f"{source} certificate: renewing it is yours to do", "")
    evidence = f"certbot.timer: {' '.join(timer.split())}\ndeploy hook: {hook.strip()}\n{dry_run}"
    states = timer.split()
    if states[:2] != ["active", "enabled"]:
        return fail(
            cid,
            "certbot's timer is not active and enabled",
            evidence,
            f"sudo systemctl enable --now certbot.timer, or {RERUN_TLS}",
        )
    if hook.strip() != "present":
        return fail(cid, "the deploy hook is missing", evidence, RERUN_TLS)
    if "Congratulations, all simulated renewals succeeded" not in dry_run:
        return fail(
            cid,
            "a dry run of the renewal fails",
            evidence,
            "see certbot's message: port 80 must serve /.well-known/acme-challenge/ for both "
            f"names and the CA must be reachable; {RERUN_TLS}",
        )
    return ok(cid, "certbot's timer is on and a dry-run renewal succeeds", evidence)


@check("tls.renewal")
def renewal_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """On the server: the timer, the hook, `certbot renew --dry-run`."""
    source = str(params.get("source", "acme"))
    if source != "acme":
        return judge_renewal(source, "", "", "")
    domain, bundle = str(params["domain"]), str(params.get("ca_bundle") or "")
    server = str(params["server"])
    if bundle and not safe_path(bundle):
        return fail("tls.renewal", f"'{bundle}' is not a file path", hint="a step bug")
    out = ctx.remote.run(renewal_script(domain, bundle, server), timeout=120).stdout
    sections = split_sections(out)
    return judge_renewal(
        source, sections.get("TIMER", ""), sections.get("HOOK", ""), sections.get("DRYRUN", "")
    )


# ----------------------------------------------------------------------------- tls.default_server


@dataclass(frozen=True)
class DefaultProbe:
    """What port 443 gave a client that names no site of the server: by bare address (no SNI)
    or with a made-up name. `page` is the HTTPS answer when the handshake went through."""

    label: str
    attempt: Handshake
    page: HttpAnswer | None = None


def judge_default_server(names: Sequence[str], probes: Sequence[DefaultProbe]) -> CheckResult:
    """Neither probe gets the site: the handshake refused, or a certificate naming none of the
    site's names and no page (a 4xx or a closed connection)."""
    cid = "tls.default_server"
    lines: list[str] = []
    problem = ""
    for probe in probes:
        attempt = probe.attempt
        if attempt.error:
            lines.append(f"{probe.label}: handshake refused ({attempt.error})")
            if attempt.no_connection and not problem:
                problem = f"port 443 {CLOSED_PORT} for {probe.label}"
            elif not attempt.refused_by_server and not problem:
                problem = f"port 443 gave no answer to {probe.label}"
            continue
        info = cert_info(attempt.leaf) if attempt.leaf else None
        shown = ", ".join(info.names) or info.subject if info else "(no certificate)"
        lines.append(f"{probe.label}: {attempt.version}, certificate for {shown}")
        if probe.page is not None:
            lines.append(f"  {described(probe.page)}")
        leaked = [n for n in names if info and name_matches(n, info.names)]
        if leaked and not problem:
            problem = f"{probe.label} gets the site's certificate (it names {leaked[0]})"
        page = probe.page
        if page and not page.error and not 400 <= page.status < 500 and not problem:
            problem = f"{probe.label} gets HTTP {page.status}: a site answers"
    evidence = "\n".join(lines)
    if problem.startswith(f"port 443 {CLOSED_PORT}"):
        return fail(cid, problem, evidence, CLOSED_HINT)
    if problem.startswith("port 443 gave no answer"):
        return fail(
            cid,
            problem,
            evidence,
            "nothing answers on 443 from here: is the web server running and the firewall step "
            f"applied after tls (it opens 443/tcp)? {RERUN_TLS}",
        )
    if problem:
        return fail(
            cid,
            problem,
            evidence,
            f"{RERUN_TLS}: nginx's default server of port 443 (conf.d/10-vps-wizard-tls.conf, "
            "ssl_reject_handshake on) refuses them; Apache's first virtual host of port 443 "
            "(conf-enabled/vps-wizard-tls.conf) answers 403 with a certificate naming no site. "
            "Another server marked default_server, or a site enabled before it, takes its place. "
            "Scanners sweep addresses: a certificate naming your site tells them where it is",
        )
    return ok(
        cid,
        "by address or an unknown name, port 443 gives no site and no certificate of it",
        evidence,
    )


@check("tls.default_server")
def default_server_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside: 443 by bare address (no SNI) and with an unknown name serves no site."""
    address = server_host(ctx.address)
    probes = []
    # An address as server_hostname sends no SNI, as a browser going to https://address does.
    for label, name in (("by address (no SNI)", address), (UNKNOWN_NAME, UNKNOWN_NAME)):
        attempt = handshake(address, name)
        page = None if attempt.error else http_get(address, name, https=True)
        probes.append(DefaultProbe(label, attempt, page))
    return judge_default_server(names_of(params["names"]), probes)


# ----------------------------------------------------------------------------- tls.compression

ENCODINGS = "gzip, deflate, br"


def judge_compression(host: str, allowed: bool, answer: HttpAnswer) -> CheckResult:
    """Offered every encoding, the site's HTTPS page comes back uncompressed (unless the step
    was told compression is wanted)."""
    cid = "tls.compression"
    encoding = answer.header("content-encoding")
    evidence = (
        f"Accept-Encoding: {ENCODINGS}\n{described(answer)}"
        + (f"\nContent-Type: {answer.header('content-type')}" if not answer.error else "")
        + (f"\nContent-Encoding: {encoding or '(none)'}" if not answer.error else "")
    )
    if answer.error:
        return fail(
            cid,
            f"https://{host}/ got no answer: {answer.error}",
            evidence,
            f"see tls.certificate and tls.protocols; {RERUN_TLS}",
        )
    if allowed:
        state = f"compressed ({encoding})" if encoding else "not compressed"
        return ok(cid, f"https://{host}/ is {state}, compression chosen in the tls step", evidence)
    if encoding and encoding.lower() != "identity":
        return fail(
            cid,
            f"https://{host}/ comes back compressed ({encoding}) though compression is off",
            evidence,
            f"{RERUN_TLS}: it turns gzip off in the HTTPS server blocks (nginx: gzip off; "
            "Apache: SetEnv no-gzip). A compressed page holding a secret beside what a visitor "
            "sends leaks it through its size (BREACH). An application compressing by itself "
            "(PHP's zlib.output_compression) must stop too",
        )
    return ok(cid, f"https://{host}/ is not compressed over TLS", evidence)


@check("tls.compression")
def compression_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside: the canonical HTTPS page, asked with Accept-Encoding, is not compressed."""
    host = str(params["host"])
    allowed = params.get("allowed", False) not in (False, "false", "False", "")
    answer = http_get(
        server_host(ctx.address), host, https=True, extra_headers={"Accept-Encoding": ENCODINGS}
    )
    return judge_compression(host, allowed, answer)
