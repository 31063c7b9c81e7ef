"""The pure judges of the tls and hsts checks, and the url/path answer types they rely on."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wizard.answers import parse_path, parse_url
from wizard.checks.hsts import header_problem, judge_header, judge_preload, parse_hsts
from wizard.checks.params import names_of
from wizard.checks.tls import (
    judge_alpn,
    judge_certificate,
    judge_ciphers,
    judge_protocols,
    judge_redirect,
    judge_renewal,
)
from wizard.errors import AnswerError
from wizard.probes.http import HttpAnswer
from wizard.probes.tls import CertInfo, Handshake, cert_info, name_matches

SUFFIXES = frozenset({"net", "uk", "co.uk"})
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
NAMES = ["example.net", "www.example.net"]
GOOD_HSTS = "max-age=63072000; includeSubDomains; preload"


def info(days: int = 60, names: tuple[str, ...] = tuple(NAMES), self_signed: bool = False):
    """A served leaf's parsed facts."""
    return CertInfo(
        subject="CN=example.net",
        issuer="CN=example.net" if self_signed else "CN=Pebble Intermediate",
        names=names,
        not_after=NOW + datetime.timedelta(days=days),
        self_signed=self_signed,
        signature_hash="sha256",
    )


# ----------------------------------------------------------------------------- certificate


def test_a_valid_certificate_for_both_names_is_ok():
    served = {name: info() for name in NAMES}
    result = judge_certificate(NAMES, "acme", served, {}, "match", NOW)
    assert result.status == "ok", result
    assert "Pebble" in result.evidence


def test_an_expired_certificate_fails_with_renew_hint():
    served = {name: info(days=-3) for name in NAMES}
    errors = dict.fromkeys(NAMES, "certificate has expired")
    result = judge_certificate(NAMES, "acme", served, errors, "match", NOW)
    assert result.status == "fail" and "has expired" in result.summary
    assert "renew" in result.hint


def test_expiring_within_30_days_fails():
    served = {name: info(days=12) for name in NAMES}
    result = judge_certificate(NAMES, "acme", served, {}, "match", NOW)
    assert result.status == "fail" and "expires in 12 days" in result.summary


def test_a_missing_name_an_unverified_chain_and_a_key_mismatch_each_fail():
    served = {name: info(names=("example.net",)) for name in NAMES}
    errors = {"example.net": "unable to get local issuer certificate"}
    result = judge_certificate(NAMES, "acme", served, errors, "mismatch", NOW)
    assert result.status == "fail"
    assert "does not cover www.example.net" in result.summary
    assert "chain of example.net does not verify" in result.summary
    assert "private key does not match" in result.summary
    assert "fullchain.pem" in result.hint and "different pairs" in result.hint


def test_self_signed_is_ok_only_when_chosen():
    served = {name: info(self_signed=True) for name in NAMES}
    assert judge_certificate(NAMES, "self-signed", served, {}, "match", NOW).status == "ok"
    chained = {name: info() for name in NAMES}
    assert judge_certificate(NAMES, "self-signed", chained, {}, "match", NOW).status == "fail"


def test_no_certificate_served_fails():
    result = judge_certificate(NAMES, "acme", {"example.net": "refused"}, {}, "match", NOW)
    assert result.status == "fail" and "gets no certificate" in result.summary


def test_cert_info_reads_names_expiry_and_signature():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.net")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in NAMES]), False)
        .sign(key, hashes.SHA256())
    )
    parsed = cert_info(cert.public_bytes(serialization.Encoding.DER))
    assert parsed.names == tuple(NAMES)
    assert parsed.self_signed and parsed.signature_hash == "sha256"
    assert parsed.not_after == NOW + datetime.timedelta(days=90)


def test_name_matching_with_wildcards():
    assert name_matches("www.example.net", ["*.example.net"])
    assert not name_matches("example.net", ["*.example.net"])
    assert not name_matches("a.b.example.net", ["*.example.net"])
    assert names_of("a.net, b.net") == ["a.net", "b.net"]
    assert names_of(["a.net"]) == ["a.net"]


# ----------------------------------------------------------------------------- handshakes

ACCEPTED = Handshake(version="TLSv1.2", cipher="ECDHE-ECDSA-AES128-GCM-SHA256")
REFUSED = Handshake(
    error="[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
    refused_by_server=True,
)
UNREACHABLE = Handshake(error="ConnectionRefusedError: [Errno 111] Connection refused")
LOCAL = Handshake(error="[SSL: NO_PROTOCOLS_AVAILABLE] no protocols available", local=True)


def test_protocols_ok_when_only_12_and_13_accepted():
    seen = {"TLS 1.0": REFUSED, "TLS 1.1": REFUSED, "TLS 1.2": ACCEPTED, "TLS 1.3": ACCEPTED}
    assert judge_protocols("example.net", seen).status == "ok"


def test_protocols_fail_when_tls_10_is_accepted():
    seen = {"TLS 1.0": ACCEPTED, "TLS 1.1": REFUSED, "TLS 1.2": ACCEPTED, "TLS 1.3": ACCEPTED}
    result = judge_protocols("example.net", seen)
    assert result.status == "fail" and "TLS 1.0 accepted" in result.summary
    assert "ssl_protocols" in result.hint


def test_protocols_warn_when_the_old_versions_cannot_be_offered_here():
    seen = {"TLS 1.0": LOCAL, "TLS 1.1": LOCAL, "TLS 1.2": ACCEPTED, "TLS 1.3": ACCEPTED}
    result = judge_protocols("example.net", seen)
    assert result.status == "warn" and "could not test" in result.evidence


def test_ciphers_and_alpn():
    assert judge_ciphers("example.net", REFUSED).status == "ok"
    weak = Handshake(version="TLSv1.2", cipher="AES128-GCM-SHA256")
    assert judge_ciphers("example.net", weak).status == "fail"
    assert judge_ciphers("example.net", LOCAL).status == "warn"
    # A closed port refuses every cipher too: that is no proof of forward secrecy.
    unreachable = judge_ciphers("example.net", UNREACHABLE)
    assert unreachable.status == "fail" and "no TLS handshake" in unreachable.summary
    assert judge_alpn("example.net", Handshake(alpn="h2")).status == "ok"
    assert judge_alpn("example.net", Handshake(alpn="http/1.1")).status == "fail"


def response(url: str, status: int, headers: tuple[tuple[str, str], ...] = ()) -> HttpAnswer:
    """An answer to GET `url` as the HTTP probe builds it, every header line kept."""
    port = 443 if url.startswith("https") else 80
    seen = {name.lower(): value for name, value in headers}
    return HttpAnswer(f"GET {url} at 192.0.2.1:{port}", status, seen, lines=headers)


def redirect(url: str, location: str, status: int = 301, hsts: str = GOOD_HSTS) -> HttpAnswer:
    """A redirect answer with an HSTS header."""
    headers = (("Location", location),) + ((("Strict-Transport-Security", hsts),) if hsts else ())
    return response(url, status, headers)


def test_redirect_to_the_same_name_over_https():
    path = "vps-wizard-tls-check?x=1"
    good = [(n, redirect(f"http://{n}/{path}", f"https://{n}/{path}")) for n in NAMES]
    assert judge_redirect(good).status == "ok"
    bad = [("example.net", redirect("http://example.net/", f"https://www.example.net/{path}"))]
    assert judge_redirect(bad).status == "fail"


def test_renewal_judge():
    congrats = "Congratulations, all simulated renewals succeeded"
    assert judge_renewal("acme", "active\nenabled", "present", congrats).status == "ok"
    assert judge_renewal("acme", "inactive\nenabled", "present", congrats).status == "fail"
    assert judge_renewal("acme", "active\nenabled", "missing", congrats).status == "fail"
    assert judge_renewal("acme", "active\nenabled", "present", "failed").status == "fail"
    assert judge_renewal("existing", "", "", "").status == "ok"


# ----------------------------------------------------------------------------- hsts


def test_parse_and_judge_one_header():
    assert parse_hsts(GOOD_HSTS) == {"max-age": "63072000", "includesubdomains": "", "preload": ""}
    assert header_problem([GOOD_HSTS], 31536000, True) == ""
    assert "no Strict" in header_problem([], 31536000, True)
    assert "2 Strict" in header_problem([GOOD_HSTS, GOOD_HSTS], 31536000, True)
    assert "under" in header_problem(["max-age=300; includeSubDomains; preload"], 31536000, True)
    assert "preload" in header_problem(["max-age=31536000; includeSubDomains"], 31536000, True)


def test_judge_header_over_several_answers():
    ok_answers = [redirect("http://example.net/", "https://example.net/")]
    assert judge_header(ok_answers, 31536000, True).status == "ok"
    two = response(
        "https://example.net/",
        200,
        (("Strict-Transport-Security", GOOD_HSTS), ("Strict-Transport-Security", GOOD_HSTS)),
    )
    result = judge_header([*ok_answers, two], 31536000, True)
    assert result.status == "fail" and "2 Strict-Transport-Security headers" in result.summary


def test_preload_ok_and_www_first_fails_by_name():
    page = response("https://example.net/", 200, (("Strict-Transport-Security", GOOD_HSTS),))
    hops = [redirect("http://example.net/", "https://example.net/"), page]
    www = Handshake(version="TLSv1.3")
    result = judge_preload("example.net", hops, www, "", [info()], page, SUFFIXES)
    assert result.status == "ok", result
    www_first = [
        redirect("http://example.net/", "https://www.example.net/"),
        response("https://www.example.net/", 200),
    ]
    result = judge_preload("example.net", www_first, www, "", [info()], page, SUFFIXES)
    assert result.status == "fail"
    assert "redirect to https on the same host first: FAILS" in result.evidence
    assert "to www first" in result.evidence


def test_preload_rules_chain_www_and_redirect_count():
    page = response("https://example.net/", 200, (("Strict-Transport-Security", GOOD_HSTS),))
    loop = [redirect("http://example.net/", "https://example.net/")] + [
        redirect("https://example.net/", "https://example.net/") for _ in range(3)
    ]
    sha1 = CertInfo("CN=x", "CN=ca", tuple(NAMES), NOW, False, "sha1")
    result = judge_preload(
        "example.net",
        loop,
        Handshake(error="refused"),
        "self-signed certificate",
        [sha1],
        page,
        SUFFIXES,
    )
    for rule in ("at most 3 redirects", "www answers over TLS", "valid chain, no SHA-1"):
        assert f"{rule}" in result.summary


def test_preload_wants_the_registrable_domain_and_says_which():
    page = response("https://www.example.co.uk/", 200, (("Strict-Transport-Security", GOOD_HSTS),))
    hops = [
        redirect("http://www.example.co.uk/", "https://www.example.co.uk/"),
        response("https://www.example.co.uk/", 200),
    ]
    www = Handshake()
    result = judge_preload("www.example.co.uk", hops, www, "", [info()], page, SUFFIXES)
    assert result.status == "fail"
    assert "a registrable domain" in result.summary
    assert "only example.co.uk can be submitted" in result.evidence
    assert "turn preload off" in result.hint
    result = judge_preload("www.example.co.uk", hops, www, "", [info()], page, None)
    assert result.status == "ok", result
    assert "not checked, no public suffix list" in result.evidence


# ----------------------------------------------------------------------------- answers


def test_url_and_path_answers():
    assert parse_url("https://localhost:14000/dir") == "https://localhost:14000/dir"
    assert parse_path("/etc/ssl/x.pem") == "/etc/ssl/x.pem"
    for bad in ("http://x/", "https://x/$(id)", "https://x/a b"):
        with pytest.raises(AnswerError):
            parse_url(bad)
    for bad in ("etc/x", "/etc/../x", "/etc/x;id", "/etc/x y"):
        with pytest.raises(AnswerError):
            parse_path(bad)
