"""The TLS enumeration of wizard/checks/tlsscan.py against real local TLS servers (Python's ssl
in a thread: what it takes is known), and the profile judge on what a scan found."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from wizard.checks.verdicts import judge_profiles
from wizard.probes.tls import plain_opener
from wizard.probes.tlsscan import (
    ELLIPTIC,
    GROUPS,
    INTERMEDIATE_CIPHERS,
    PROFILE_SUITES13,
    SUITES12,
    SUITES12_GROUPS,
    SUITES13,
    VERSIONS,
    Accepted,
    Opener,
    client_hello,
    judge_profile,
    offer,
    parse_server_hello,
    scan,
)

GOOD = Accepted(
    versions=("TLS 1.2", "TLS 1.3"),
    suites12=("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    suites13=PROFILE_SUITES13,
    groups12=("X25519", "P-256", "P-384"),
    groups13=("X25519", "P-256", "P-384"),
)


def test_a_port_with_only_the_profile_is_ok_and_lists_what_it_accepts():
    result = judge_profiles("tls.profile", "example.net", {443: GOOD}, "hint")
    assert result.status == "ok", result
    assert "port 443:\n  protocols: TLS 1.2, TLS 1.3\n" in result.evidence
    assert "  groups: X25519, P-256, P-384" in result.evidence


def test_anything_outside_the_profile_fails_by_port_and_by_name():
    mail = Accepted(
        versions=("TLS 1.2", "TLS 1.3"),
        suites12=("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA384", "AES128-CCM"),
        suites13=("TLS_AES_128_GCM_SHA256", "TLS_AES_128_CCM_SHA256"),
        groups12=("X25519", "P-521"),
        groups13=("X25519", "X448"),
    )
    verdict = judge_profile(mail)
    assert verdict.outside == (
        "ECDHE-ECDSA-AES256-SHA384",
        "AES128-CCM",
        "TLS_AES_128_CCM_SHA256",
        "P-521",
        "X448",
    )
    assert verdict.non_forward_secret == ("AES128-CCM",)
    result = judge_profiles("mail.tls_profile", "mail.example.net", {25: mail, 993: GOOD}, "h")
    assert result.status == "fail"
    assert "port 25 accepts ECDHE-ECDSA-AES256-SHA384" in result.summary
    assert "port 993" not in result.summary
    assert "AES128-CCM without forward secrecy" in result.summary
    old = Accepted(**{**GOOD.__dict__, "versions": ("TLS 1.0", "TLS 1.2")})
    result = judge_profiles("tls.profile", "example.net", {443: old}, "h")
    assert "accepts TLS 1.0" in result.summary and "refuses TLS 1.3" in result.summary


def test_no_tls_at_all_fails_and_silent_probes_only_warn():
    down = judge_profiles("tls.profile", "x", {443: Accepted(unreachable="refused")}, "h")
    assert down.status == "fail" and "no TLS (refused)" in down.summary
    slow = Accepted(**{**GOOD.__dict__, "errors": ("AES128-SHA: timed out",)})
    assert judge_profiles("tls.profile", "x", {443: slow}, "h").status == "warn"


def test_a_client_hello_is_one_record_that_names_the_server():
    hello = client_hello("example.net", [0xC02B], [0x001D], tls13=True)
    assert hello[0] == 22 and int.from_bytes(hello[3:5], "big") == len(hello) - 5
    assert b"example.net" in hello
    # A bare address is no SNI name (RFC 6066).
    assert b"192.0.2.1" not in client_hello("192.0.2.1", [0xC02B], [0x001D])


def test_a_hello_retry_request_names_its_group_and_suite():
    random = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
    extensions = bytes.fromhex("002b00020304") + bytes.fromhex("003300020018")
    body = (
        b"\x03\x03"
        + random
        + b"\x00"
        + b"\x13\x02"
        + b"\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    answer = parse_server_hello(body)
    assert answer.retry and answer.version == 0x0304
    assert answer.suite == 0x1302 and answer.group == 0x0018


def self_signed(folder: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.net")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tlsscan"), ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def rsa_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return self_signed(tmp_path_factory.mktemp("tlsscan-rsa"), key)


def serve(context: ssl.SSLContext) -> Iterator[int]:
    """A TLS server on a free local port, accepting until the test ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(2)
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass
            finally:
                raw.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def server_context(cert: tuple[Path, Path], ciphers: str, minimum: ssl.TLSVersion):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    context.minimum_version = minimum
    context.set_ciphers(ciphers)
    return context


def test_the_scan_sees_exactly_the_suites_a_real_server_takes(certificate):
    context = server_context(certificate, INTERMEDIATE_CIPHERS, ssl.TLSVersion.TLSv1_2)
    for port in serve(context):
        accepted = scan(plain_opener("127.0.0.1", port), "example.net", parallel=4)
    assert accepted.versions == ("TLS 1.2", "TLS 1.3")
    # An ECDSA certificate: the ECDHE-RSA suites of the list cannot be negotiated.
    assert accepted.suites12 == (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    )
    assert set(accepted.suites13) <= set(PROFILE_SUITES13) and accepted.suites13
    assert "X25519" in accepted.groups13 and "P-256" in accepted.groups12
    assert not accepted.errors


def test_the_scan_finds_cbc_suites_and_old_versions(certificate):
    context = server_context(
        certificate, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256", ssl.TLSVersion.TLSv1_2
    )
    for port in serve(context):
        accepted = scan(plain_opener("127.0.0.1", port), "example.net", parallel=4)
    assert "ECDHE-ECDSA-AES128-SHA" in accepted.suites12
    assert "ECDHE-ECDSA-AES128-SHA" in judge_profile(accepted).outside


def test_a_closed_port_is_no_tls():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    accepted = scan(plain_opener("127.0.0.1", port), "example.net", parallel=4)
    assert accepted.unreachable.startswith("ConnectionRefusedError")


@pytest.mark.parametrize(
    "ciphers", ["ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM", "HIGH:!aNULL", "ALL:@SECLEVEL=0"]
)
@pytest.mark.parametrize("key", ["certificate", "rsa_certificate"])
def test_the_scan_takes_what_one_offer_each_would_take(request, key, ciphers):
    """The TLS 1.2 suites and the TLS 1.3 groups are offered together, the chosen one taken
    out each time: the scan must still find exactly what offering each alone finds, in fewer
    connections."""
    context = server_context(request.getfixturevalue(key), ciphers, ssl.TLSVersion.TLSv1_2)
    connections = 0

    for port in serve(context):
        plain = plain_opener("127.0.0.1", port)

        def counted(plain: Opener = plain) -> socket.socket:
            nonlocal connections
            connections += 1
            return plain()

        accepted = scan(counted, "example.net", parallel=4)
        suites_alone, groups_alone = set(), set()
        for code, suite in SUITES12.items():
            answer = offer(plain, client_hello("example.net", [code], SUITES12_GROUPS))
            if answer.accepted and answer.suite == code:
                suites_alone.add(suite)
        for code, group in GROUPS.items():
            answer = offer(plain, client_hello("example.net", list(SUITES13), [code], tls13=True))
            if answer.accepted and answer.group == code:
                groups_alone.add(group)
    assert suites_alone and set(accepted.suites12) == suites_alone
    assert groups_alone and set(accepted.groups13) == groups_alone
    assert not accepted.errors
    # Each version, TLS 1.3 suite and TLS 1.2 curve alone, then one offer an item taken and
    # one refusal a hand (4 of suites, 2 of groups).
    singles = len(VERSIONS) + 1 + len(SUITES13) + len(ELLIPTIC)
    most = singles + len(suites_alone) + len(groups_alone) + 4 + 2
    assert connections <= most < singles + len(SUITES12) + len(GROUPS)
