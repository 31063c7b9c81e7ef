"""TLS from the outside with Python's ssl: one handshake and what it negotiated, a chain
verification, and the served certificate read with `cryptography` (never the openssl command:
what a client sees is what counts)."""

from __future__ import annotations

import datetime
import socket
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from wizard.probes.tlsscan import Opener

TIMEOUT = 5.0
VERSIONS = {
    "TLS 1.0": ssl.TLSVersion.TLSv1,
    "TLS 1.1": ssl.TLSVersion.TLSv1_1,
    "TLS 1.2": ssl.TLSVersion.TLSv1_2,
    "TLS 1.3": ssl.TLSVersion.TLSv1_3,
}
# What the local OpenSSL says when it cannot even offer a version or cipher (not the server).
# The checks offer TLS 1.0 and 1.1 on purpose, to see the server refuse them.
warnings.filterwarnings("ignore", r"ssl\.TLSVersion\.TLSv1(_1)? is deprecated", DeprecationWarning)
LOCAL_REFUSALS = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "no protocols available")


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
        return refused_handshake(error)
    except OSError as error:
        return Handshake(error=f"{type(error).__name__}: {error}")


def refused_handshake(error: ssl.SSLError) -> Handshake:
    """A handshake that failed: refused by the server, or not even offered by this machine."""
    text = str(error)
    local = any(r in text for r in LOCAL_REFUSALS)
    return Handshake(error=text, local=local, refused_by_server=not local)


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


def plain_opener(address: str, port: int) -> Opener:
    """Connections for a scan of a port that speaks TLS at once (443, 993)."""

    def open_connection() -> socket.socket:
        return socket.create_connection((address, port), timeout=TIMEOUT)

    return open_connection


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
