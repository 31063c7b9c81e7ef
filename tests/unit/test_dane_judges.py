"""The dane step's pure parts: the 3 1 1 hash (against OpenSSL's, as the server computes it),
the records judge with a pending next key, and the renewal judge."""

from __future__ import annotations

import datetime
import hashlib
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from wizard.checks.dane import (
    RenewalState,
    Seen,
    judge_records,
    judge_renewal,
    pending_key,
    record_text,
    renewal_state,
    spki_sha256,
    tlsa_owner,
)

OWNER = "_443._tcp.example.net"
OLD, NEW, NEXT = "aa" * 32, "bb" * 32, "cc" * 32


def certificate(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> x509.Certificate:
    """A self-signed certificate of `key` for example.net."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.net")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)],
    ids=["ecdsa", "rsa"],
)
def test_the_hash_is_openssls_sha256_of_the_spki_from_der_or_pem(key):
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to compare with")
    cert = certificate(key)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    # What vps-wizard-tlsa runs on the server.
    pubkey = subprocess.run(
        ["openssl", "x509", "-noout", "-pubkey"], input=pem, capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=pubkey,
        capture_output=True,
        check=True,
    ).stdout
    expected = hashlib.sha256(der).hexdigest()
    assert spki_sha256(cert.public_bytes(serialization.Encoding.DER)) == expected
    # A chain's first certificate is the leaf.
    other = certificate(ec.generate_private_key(ec.SECP256R1()))
    chain = pem + other.public_bytes(serialization.Encoding.PEM)
    assert spki_sha256(chain) == expected


def test_the_hash_follows_the_key_not_the_certificate():
    key = ec.generate_private_key(ec.SECP256R1())
    first, renewed = certificate(key), certificate(key)
    assert first.serial_number != renewed.serial_number
    der = serialization.Encoding.DER
    assert spki_sha256(first.public_bytes(der)) == spki_sha256(renewed.public_bytes(der))
    fresh = certificate(ec.generate_private_key(ec.SECP256R1()))
    assert spki_sha256(fresh.public_bytes(der)) != spki_sha256(first.public_bytes(der))


def test_owner_names_and_record_text():
    assert tlsa_owner(443, "www.example.net.") == "_443._tcp.www.example.net"
    assert tlsa_owner(25, "mail.example.net") == "_25._tcp.mail.example.net"
    assert record_text("ABCD") == "3 1 1 abcd"


def test_pending_key_reads_the_next_certificate_or_nothing():
    cert = certificate(ec.generate_private_key(ec.SECP256R1()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert pending_key({"NEXT": pem}) == spki_sha256(pem.encode())
    assert pending_key({"NEXT": ""}) == ""
    assert pending_key({}) == ""


# ----------------------------------------------------------------------------- records


def seen(served: str = NEW, *records: str, **changes) -> Seen:
    """One service's observation with 3 1 1 records for the given hashes."""
    return Seen(
        changes.pop("owner", OWNER),
        served=served,
        records=frozenset(record_text(r) for r in records),
        **changes,
    )


def test_the_served_keys_record_alone_is_ok():
    result = judge_records("dane.https", [seen(NEW, NEW)], "", 443)
    assert result.status == "ok", result
    assert NEW in result.evidence and "zone not signed" in result.evidence


def test_a_record_for_an_old_key_only_fails_with_the_hint():
    result = judge_records("dane.https", [seen(NEW, OLD)], "", 443)
    assert result.status == "fail"
    assert result.summary == (
        f"the TLSA of {OWNER} matches no key the server serves: a record for an old key"
    )
    assert result.hint == "run the dane step again"
    assert OLD in result.evidence and NEW in result.evidence


def test_no_record_fails_as_missing():
    result = judge_records("dane.https", [seen(NEW)], "", 443)
    assert result.status == "fail" and "is missing" in result.summary


def test_the_next_keys_record_beside_the_served_one_is_ok_during_a_switch():
    result = judge_records("dane.https", [seen(OLD, OLD, NEW)], NEW, 443)
    assert result.status == "ok", result
    assert "next key" in result.summary and "next key" in result.evidence


def test_an_extra_record_without_a_pending_switch_warns_as_stale():
    result = judge_records("dane.https", [seen(NEW, NEW, OLD)], "", 443)
    assert result.status == "warn"
    assert "no longer served" in result.summary and "dane step" in result.hint
    # A pending key of another hash does not excuse it either.
    assert judge_records("dane.https", [seen(NEW, NEW, OLD)], NEXT, 443).status == "fail"


def test_a_pending_key_without_its_record_fails_before_the_switch_breaks_the_service():
    result = judge_records("dane.https", [seen(OLD, OLD)], NEW, 443)
    assert result.status == "fail"
    assert "no record for it" in result.summary


def test_a_pending_certificate_with_the_same_key_needs_no_other_record():
    result = judge_records("dane.https", [seen(NEW, NEW)], NEW, 443)
    assert result.status == "ok", result
    assert "next key" not in result.summary


def test_every_name_is_judged_and_a_dns_or_tls_error_fails():
    www = seen(NEW, OLD, owner="_443._tcp.www.example.net")
    result = judge_records("dane.https", [seen(NEW, NEW), www], "", 443)
    assert result.status == "fail" and "_443._tcp.www.example.net" in result.summary
    down = Seen(OWNER, served_error="ConnectionRefusedError")
    result = judge_records("dane.smtp", [down], "", 25)
    assert result.status == "fail" and "port 25" in result.hint
    silent = Seen(OWNER, served=NEW, dns_error="no answer from 10.0.0.1 within 3 s")
    result = judge_records("dane.https", [silent], "", 443)
    assert result.status == "fail" and "dns-zone" in result.hint


# ----------------------------------------------------------------------------- renewal


def state(**changes) -> RenewalState:
    """A healthy renewal state, with changes."""
    values = {
        "prepare_hook": True,
        "deploy_hook": True,
        "certbot_hook": "rollover",
        "next_cert": "",
        "timer": "",
        "timer_line": "",
        "records_fresh": True,
    }
    values.update(changes)
    return RenewalState(**values)


def test_renewal_ok_and_each_broken_part_fails_with_its_hint():
    assert judge_renewal("acme", state()).status == "ok"
    missing = judge_renewal("acme", state(prepare_hook=False))
    assert missing.status == "fail" and missing.hint == "run the dane step again"
    old = judge_renewal("acme", state(certbot_hook="old"))
    assert old.status == "fail" and "tls step" in old.hint
    # Self-signed or existing certificates have no certbot hook to wait.
    assert judge_renewal("existing", state(certbot_hook="missing")).status == "ok"
    stale = judge_renewal("acme", state(records_fresh=False))
    assert stale.status == "fail" and "vps-wizard-tlsa" in stale.hint


def test_a_waiting_switch_is_ok_with_its_timer_and_stuck_without():
    archive = "/etc/letsencrypt/archive/example.net/fullchain2.pem"
    waiting = judge_renewal("acme", state(next_cert=archive, timer="waiting"))
    assert waiting.status == "ok" and "waits for its timer" in waiting.summary
    assert archive in waiting.evidence
    stuck = judge_renewal("acme", state(next_cert=archive, timer="elapsed"))
    assert stuck.status == "fail" and "stuck" in stuck.summary and "tls step" in stuck.hint


def test_renewal_state_parses_the_scripts_sections():
    parsed = renewal_state(
        {
            "HOOKS": "prepare\ndeploy",
            "CERTBOT": "rollover",
            "NEXT": "/etc/letsencrypt/archive/example.net/fullchain2.pem",
            "TIMER": "waiting",
            "TIMERLINE": "Mon 2026-06-01 10:10:00 UTC  9min left  -  -  vps-wizard-tls-switch",
            "FRESH": "0",
        }
    )
    assert parsed == state(
        next_cert="/etc/letsencrypt/archive/example.net/fullchain2.pem",
        timer="waiting",
        timer_line="Mon 2026-06-01 10:10:00 UTC 9min left - - vps-wizard-tls-switch",
    )
    assert renewal_state({}).certbot_hook == "missing"
    assert renewal_state({"FRESH": "1"}).records_fresh is False
