"""The dnssec judges on records signed here with dnspython: valid, tampered, close to expiry;
the DS verdicts; what named's status says about re-signing."""

from __future__ import annotations

import datetime

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec

from wizard.checks.dnssec import ds_records, judge_ds, judge_resign, judge_signed
from wizard.probes.dns import Answer, Delegation

NOW = datetime.datetime(2026, 11, 29, 12, tzinfo=datetime.UTC)
ORIGIN = dns.name.from_text("example.net.")
PRIVATE = ec.generate_private_key(ec.SECP256R1())
DNSKEY = dns.dnssec.make_dnskey(PRIVATE.public_key(), "ECDSAP256SHA256", flags=257)
KEYS = dns.rrset.from_rdata(ORIGIN, 3600, DNSKEY)


def signed_answer(rrset: dns.rrset.RRset, days: float, tamper: bool = False) -> Answer:
    """A response holding the set and its RRSIG valid for `days` from NOW."""
    sig = dns.dnssec.sign(
        rrset,
        PRIVATE,
        ORIGIN,
        DNSKEY,
        inception=NOW - datetime.timedelta(hours=1),
        expiration=NOW + datetime.timedelta(days=days),
    )
    response = dns.message.make_response(dns.message.make_query(rrset.name, rrset.rdtype))
    response.flags |= dns.flags.AA
    served = rrset
    if tamper:
        served = dns.rrset.from_text(rrset.name, rrset.ttl, "IN", "A", "192.0.2.99")
    response.answer += [served, dns.rrset.from_rdata(rrset.name, rrset.ttl, sig)]
    return Answer(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), response)


def a_record() -> dns.rrset.RRset:
    return dns.rrset.from_text("example.net.", 300, "IN", "A", "192.0.2.1")


def test_valid_signatures_pass_and_a_tampered_or_expiring_set_fails():
    dnskey = signed_answer(KEYS, 14)
    assert (
        judge_signed("example.net", dnskey, [signed_answer(a_record(), 14)], None, NOW).status
        == "ok"
    )
    tampered = judge_signed("example.net", dnskey, [signed_answer(a_record(), 14, True)], None, NOW)
    assert tampered.status == "fail" and "does not validate" in tampered.summary
    expiring = judge_signed("example.net", dnskey, [signed_answer(a_record(), 3)], None, NOW)
    assert expiring.status == "fail" and "less than 7 days" in expiring.summary


def test_unsigned_zone_fails_with_the_way_to_sign_it():
    empty = Answer("example.net", "DNSKEY", dns.message.make_query("example.net", "DNSKEY"))
    result = judge_signed("example.net", empty, [], None, NOW)
    assert result.status == "fail" and "no DNSKEY" in result.summary
    assert "dnssec step" in result.hint


def test_an_nxdomain_without_signed_denial_fails():
    dnskey = signed_answer(KEYS, 14)
    query = dns.message.make_query("nothing.example.net", "A")
    bare = Answer("nothing.example.net", "A", dns.message.make_response(query))
    result = judge_signed("example.net", dnskey, [], bare, NOW)
    assert result.status == "fail" and "without a signed NSEC/NSEC3" in result.summary


def test_ds_verdicts():
    wanted = ds_records("example.net", signed_answer(KEYS, 14))
    assert len(wanted) == 1 and wanted[0].split()[2] == "2"  # SHA-256
    holds = Delegation("net.", ("192.0.2.53",), ds=frozenset(wanted))
    assert judge_ds("example.net", wanted, holds).status == "ok"
    stale = Delegation("net.", ("192.0.2.53",), ds=frozenset({"1 13 2 abcd"}))
    result = judge_ds("example.net", wanted, stale)
    assert result.status == "fail" and "SERVFAIL" in result.summary
    assert wanted[0].upper() in result.evidence
    assert judge_ds("example.net", wanted, Delegation("net.", ("x",))).status == "warn"
    both = Delegation("net.", ("x",), ds=frozenset({*wanted, "1 13 2 abcd"}))
    assert "gone" in judge_ds("example.net", wanted, both).summary


def test_resign_needs_the_policy_and_a_scheduled_resign():
    status = (
        "name: example.net\nserial: 2026112901\nsigned serial: 2026112905\n"
        "next resign node: example.net/SOA\nnext resign time: 03-Dec-2026 10:00:00.000\n"
    )
    policy = "dnssec-policy: vps-wizard\ncurrent time: ...\n"
    assert judge_resign("example.net", status, policy, "2026112901").status == "ok"
    for off in ("none", "insecure"):
        result = judge_resign("example.net", status, f"dnssec-policy: {off}\n", "2026112901")
        assert result.status == "fail" and "no dnssec-policy" in result.summary
    unsigned = "name: example.net\nserial: 2026112901\n"
    assert judge_resign("example.net", unsigned, policy, "2026112901").status == "fail"
