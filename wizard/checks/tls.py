"""Checks of the tls step, from the wizard's machine with Python's ssl and `cryptography` (never
the openssl command: what a client sees is what counts), plus the key match and the renewal on
the server.

Every connection goes to the server's address with the site's name as SNI and Host header, so
the checks work before DNS points to the server. The pure `judge_*` functions take what was
seen and decide; the `@check` functions only gather it.
"""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

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
from wizard.checks.ssh import server_host
from wizard.checks.tlsscan import (
    INTERMEDIATE_CIPHERS,
    PROFILE_GROUPS,
    PROFILE_SUITES12,
    PROFILE_SUITES13,
    Accepted,
    Opener,
    judge_profile,
    scan,
)
from wizard.checks.web import UNKNOWN_NAME, HttpAnswer, described, http_get, safe_path
from wizard.shell import Shell, code, script, sh

RERUN_TLS = "run the tls step again"
# No TCP connection at all (a timeout, a refused connection): nothing about TLS is known, and
# the usual cause is the firewall, which lets a step's port in only once it is applied again.
CLOSED_PORT = "closed or filtered (no TCP connection)"
CLOSED_HINT = (
    "the port is closed or filtered: the firewall must let it in (apply the firewall step "
    "again: the step that added the port waits for it), and the server must listen on it"
)
TIMEOUT = 5.0
EXPIRY_DAYS = 30
BODY_LIMIT = 65536
# RSA key exchange, no forward secrecy: a recorded session opens with the server's key later.
NON_FS_CIPHERS = (
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA"
)
VERSIONS = {
    "TLS 1.0": ssl.TLSVersion.TLSv1,
    "TLS 1.1": ssl.TLSVersion.TLSv1_1,
    "TLS 1.2": ssl.TLSVersion.TLSv1_2,
    "TLS 1.3": ssl.TLSVersion.TLSv1_3,
}
WANTED = {"TLS 1.0": False, "TLS 1.1": False, "TLS 1.2": True, "TLS 1.3": True}
# What the local OpenSSL says when it cannot even offer a version or cipher (not the server).
# tls.protocols offers TLS 1.0 and 1.1 on purpose, to see the server refuse them.
warnings.filterwarnings("ignore", r"ssl\.TLSVersion\.TLSv1(_1)? is deprecated", DeprecationWarning)
LOCAL_REFUSALS = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "no protocols available")


def names_of(value: Any) -> list[str]:
    """A check parameter holding one name or a list of names, as a list."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value]


# ----------------------------------------------------------------------------- handshakes


@dataclass(frozen=True)
class Handshake:
    """One TLS handshake attempt: what was negotiated, or why not.

    `error` is "" on success; `local` is True when this machine could not even offer what was
    asked (its OpenSSL refuses it), so the attempt says nothing about the server.
    """

    version: str = ""
    cipher: str = ""
    alpn: str = ""
    leaf: bytes = b""
    error: str = ""
    local: bool = False
    refused_by_server: bool = False
    # No TCP connection was made (the connect timed out or was refused): the port is closed
    # or filtered, and the attempt says nothing about TLS.
    no_connection: bool = False
    # Refused (a reset): the server answered that nothing listens there, so the service is
    # down; a firewall that drops (the wizard's) gives a timeout instead.
    nothing_listens: bool = False


def client_context(
    version: ssl.TLSVersion | None = None, ciphers: str | None = None
) -> ssl.SSLContext:
    """A context that verifies nothing (the certificate check does) and may offer old versions."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if version is not None:
        # Security level 0: OpenSSL 3 will not offer TLS 1.0/1.1 (SHA-1 signatures) otherwise.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = version
        context.maximum_version = version
    if ciphers:
        context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    return context


def handshake(
    address: str,
    name: str,
    port: int = 443,
    version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    alpn: Sequence[str] = (),
    timeout: float = TIMEOUT,
) -> Handshake:
    """Connect to address:port with SNI `name` and report what the handshake gave."""
    try:
        context = client_context(version, ciphers)
        if alpn:
            context.set_alpn_protocols(list(alpn))
    except (ssl.SSLError, ValueError) as error:
        return Handshake(error=str(error), local=True)
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as error:
        return Handshake(
            error=f"{type(error).__name__}: {error}",
            no_connection=True,
            nothing_listens=isinstance(error, ConnectionRefusedError),
        )
    try:
        with raw, context.wrap_socket(raw, server_hostname=name) as tls:
            cipher = tls.cipher()
            return Handshake(
                version=tls.version() or "",
                cipher=cipher[0] if cipher else "",
                alpn=tls.selected_alpn_protocol() or "",
                leaf=tls.getpeercert(binary_form=True) or b"",
            )
    except ssl.SSLError as error:
        text = str(error)
        local = any(r in text for r in LOCAL_REFUSALS)
        return Handshake(error=text, local=local, refused_by_server=not local)
    except OSError as error:
        return Handshake(error=f"{type(error).__name__}: {error}")


def verify_error(address: str, name: str, cadata: str, port: int = 443) -> str:
    """ "" when the server's chain for `name` verifies (against `cadata`, or this machine's
    public CAs when empty) and matches the name, else OpenSSL's reason."""
    # Only the given CA when there is one: "valid" means valid for the CA the step trusts.
    context = ssl.create_default_context(cadata=cadata or None)
    try:
        with (
            socket.create_connection((address, port), timeout=TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=name),
        ):
            return ""
    except ssl.SSLCertVerificationError as error:
        return error.verify_message or str(error)
    except (ssl.SSLError, OSError) as error:
        return str(error)


# ----------------------------------------------------------------------------- tls.certificate


@dataclass(frozen=True)
class CertInfo:
    """What matters in a served leaf certificate."""

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_after: datetime.datetime
    self_signed: bool
    signature_hash: str


def cert_info(der: bytes) -> CertInfo:
    """Parse a DER certificate with `cryptography`."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    algorithm = cert.signature_hash_algorithm
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        names=names,
        not_after=cert.not_valid_after_utc,
        self_signed=cert.subject == cert.issuer,
        signature_hash=algorithm.name if isinstance(algorithm, hashes.HashAlgorithm) else "none",
    )


def name_matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether `name` is covered by a certificate's DNS names (one-label wildcards)."""
    name = name.lower()
    for pattern in (p.lower() for p in patterns):
        if pattern == name:
            return True
        if pattern.startswith("*.") and name.split(".", 1)[-1] == pattern[2:] and "." in name:
            return True
    return False


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


@dataclass(frozen=True)
class VersionTally:
    """Handshakes offering one TLS version each, sorted out against WANTED."""

    lines: tuple[str, ...]  # one per version: accepted, refused or could not test
    wrong: tuple[str, ...]  # "TLS 1.0 accepted", "TLS 1.3 refused"
    untested: tuple[str, ...]  # versions this machine cannot offer
    unconnected: tuple[str, ...] = ()  # versions whose attempt got no TCP connection

    @property
    def evidence(self) -> str:
        """The lines, for a result's evidence."""
        return "\n".join(self.lines)


def tally_versions(seen: Mapping[str, Handshake]) -> VersionTally:
    """Which versions the server accepted, against TLS 1.0/1.1 off and 1.2/1.3 on."""
    lines, wrong, untested, unconnected = [], [], [], []
    for label, wanted in WANTED.items():
        attempt = seen.get(label, Handshake(error="not tried", local=True))
        if attempt.local:
            state = f"could not test: this machine cannot offer it ({attempt.error})"
            untested.append(label)
        elif attempt.no_connection:
            state = f"no connection ({attempt.error})"
            unconnected.append(label)
            lines.append(f"{label}: {state}")
            continue
        elif attempt.error:
            state = f"refused ({attempt.error})"
        else:
            state = f"accepted ({attempt.version}, {attempt.cipher})"
        lines.append(f"{label}: {state}")
        accepted = not attempt.local and not attempt.error
        if not attempt.local and accepted != wanted:
            wrong.append(f"{label} {'accepted' if accepted else 'refused'}")
    return VersionTally(tuple(lines), tuple(wrong), tuple(untested), tuple(unconnected))


def judge_tally(
    cid: str, subject: str, tally: VersionTally, wrong_hint: str, ok_summary: str
) -> CheckResult:
    """Fail on a wrong version (or untestable 1.2/1.3), warn on untestable old versions; a
    version that got no TCP connection is a closed or filtered port, not a TLS setting."""
    if tally.unconnected:
        return fail(
            cid,
            f"{subject}: port {CLOSED_PORT} for {', '.join(tally.unconnected)}",
            tally.evidence,
            CLOSED_HINT,
        )
    if tally.wrong:
        return fail(cid, f"{subject}: {', '.join(tally.wrong)}", tally.evidence, wrong_hint)
    if any(WANTED[label] for label in tally.untested):
        return fail(
            cid, "TLS 1.2/1.3 could not be tested", tally.evidence, "this machine's OpenSSL"
        )
    if tally.untested:
        return warn(
            cid,
            f"{subject}: TLS 1.2 and 1.3 accepted; {', '.join(tally.untested)} not tested",
            tally.evidence,
            "this machine's OpenSSL refuses to offer the old versions; test from another client",
        )
    return ok(cid, f"{subject}: {ok_summary}", tally.evidence)


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


def plain_opener(address: str, port: int) -> Opener:
    """Connections for a scan of a port that speaks TLS at once (443, 993)."""

    def open_connection() -> socket.socket:
        return socket.create_connection((address, port), timeout=TIMEOUT)

    return open_connection


def judge_profiles(
    cid: str, host: str, ports: Mapping[int, Accepted], hint: str, fs_hint: str = ""
) -> CheckResult:
    """Each port accepts TLS 1.2 and 1.3, and nothing outside Mozilla's intermediate profile:
    its suites (ECDHE or DHE with AES-GCM or ChaCha20; TLS 1.3's but CCM) and its groups
    (X25519, P-256, P-384). Probes that got no answer at all only warn."""
    evidence_lines = [
        f"profile: TLS 1.2, TLS 1.3; suites {', '.join(PROFILE_SUITES13)}, "
        f"{', '.join(PROFILE_SUITES12)}; groups {', '.join(PROFILE_GROUPS)}"
    ]
    problems: list[str] = []
    silent: list[str] = []
    static: list[str] = []
    unreachable = False
    for port, accepted in ports.items():
        evidence_lines.append(f"port {port}:")
        evidence_lines += [f"  {line}" for line in accepted.lines()]
        if accepted.unreachable:
            problems.append(f"port {port}: no TLS ({accepted.unreachable})")
            unreachable = True
            continue
        verdict = judge_profile(accepted)
        if verdict.outside:
            problems.append(f"port {port} accepts {', '.join(verdict.outside)}")
        if verdict.missing:
            problems.append(f"port {port} refuses {', '.join(verdict.missing)}")
        static += verdict.non_forward_secret
        if accepted.errors:
            silent.append(f"port {port}: {len(accepted.errors)} offers got no answer")
    evidence = "\n".join(evidence_lines)
    if problems:
        summary = f"{host}: " + "; ".join(problems)
        if static:
            summary += f" ({', '.join(static)} without forward secrecy)"
        if unreachable:
            # Not one offer got an answer: the port, not the TLS configuration.
            hint = f"no offer got any answer: {CLOSED_HINT}"
        return fail(cid, summary, evidence, fs_hint if static and fs_hint else hint)
    if silent:
        return warn(
            cid,
            f"{host}: nothing outside Mozilla intermediate, but " + "; ".join(silent),
            evidence,
            "a slow link or a rate limit; run verify again",
        )
    listed = ", ".join(str(port) for port in ports)
    return ok(
        cid,
        f"{host} port{'s' if len(ports) > 1 else ''} {listed}: Mozilla intermediate only "
        "(TLS 1.2 and 1.3, AEAD suites with forward secrecy, X25519/P-256/P-384)",
        evidence,
    )


@check("tls.profile")
def profile_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Offer every version, cipher suite and group alone on 443 and judge what was taken."""
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


# ----------------------------------------------------------------------------- HTTP(S) requests


@dataclass(frozen=True)
class Response:
    """One HTTP or HTTPS answer with every header line kept (duplicates count for HSTS)."""

    url: str
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    error: str = ""

    def values(self, name: str) -> list[str]:
        """Every value of a header, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def location(self) -> str:
        """The Location header, or ""."""
        found = self.values("location")
        return found[0] if found else ""

    def summary(self) -> str:
        """One line of evidence."""
        if self.error:
            return f"GET {self.url}: {self.error}"
        return f"GET {self.url}: {self.status}" + (f" -> {self.location}" if self.location else "")


def request(address: str, url: str, timeout: float = TIMEOUT) -> Response:
    """GET `url` at `address` (the URL's host goes in SNI and Host), no redirect followed."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    port = 443 if scheme == "https" else 80
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
        connection.sock = (
            client_context().wrap_socket(raw, server_hostname=host) if scheme == "https" else raw
        )
        connection.request("GET", "/" + path, headers={"Host": host, "User-Agent": "vps-wizard"})
        answer = connection.getresponse()
        answer.read(BODY_LIMIT)
        return Response(url, answer.status, tuple(answer.getheaders()))
    except (OSError, http.client.HTTPException) as error:
        return Response(url, error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()


# ----------------------------------------------------------------------------- tls.redirect

REDIRECT_PATH = "vps-wizard-tls-check?x=1"


def judge_redirect(answers: Sequence[tuple[str, Response]]) -> CheckResult:
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
        (name, request(address, f"http://{name}/{REDIRECT_PATH}"))
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
