"""The pure parts of the dns checks: serials, expected records, registrar entries, verdicts."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rrset

from wizard.checks.dns import (
    expected_records,
    file_serial,
    judge_authoritative,
    judge_registrar,
    judge_serial,
    registrar_entries,
    status_serials,
)
from wizard.probes.dns import Answer, Delegation

ZONE = (
    "; Built by vps-wizard-zone\n$TTL 3600\n@ IN SOA ns1.example.net. h.example.net. (\n"
    "    2026112902 ; serial\n    3600 900 1209600 300 )\n"
)


def answer(name: str, rdtype: str, *records: str, aa: bool = True) -> Answer:
    """A response as a server would send it."""
    query = dns.message.make_query(name, rdtype)
    response = dns.message.make_response(query)
    if aa:
        response.flags |= dns.flags.AA
    if records:
        response.answer.append(dns.rrset.from_text_list(name, 300, "IN", rdtype, list(records)))
    return Answer(name, rdtype, response)


def test_serials_of_the_file_and_of_rndc():
    assert file_serial(ZONE) == 2026112902
    assert file_serial("no zone here") is None
    status = "name: example.net\nserial: 2026112902\nsigned serial: 2026112907\n"
    assert status_serials(status) == (2026112902, 2026112907)
    assert status_serials("serial: 5\n") == (5, None)


def test_served_serial_must_be_the_signed_one_when_signed():
    soa = answer("example.net.", "SOA", "ns1.example.net. h.example.net. 2026112907 1 1 1 1")
    signed = "serial: 2026112902\nsigned serial: 2026112907\n"
    assert judge_serial("example.net", ZONE, signed, soa).status == "ok"
    unsigned = "serial: 2026112902\n"
    result = judge_serial("example.net", ZONE, unsigned, soa)
    assert result.status == "fail" and "2026112907" in result.summary


def test_a_record_set_that_differs_is_named_with_what_lacks_and_what_is_extra():
    params = {"domain": "example.net", "ns": ["ns1.example.net"], "ipv4": "192.0.2.1"}
    wanted = expected_records(params)
    soa = answer("example.net.", "SOA", "ns1.example.net. h.example.net. 1 1 1 1 1")
    served = {key: answer(key[0], key[1], *sorted(records)) for key, records in wanted.items()}
    assert judge_authoritative("example.net", soa, served, wanted).status == "ok"
    served[("example.net", "A")] = answer("example.net", "A", "192.0.2.9")
    result = judge_authoritative("example.net", soa, served, wanted)
    assert result.status == "fail"
    assert "example.net A lacks 192.0.2.1 has 192.0.2.9 too" in result.summary
    served[("example.net", "A")] = answer("example.net", "A", "192.0.2.1", aa=False)
    assert "not authoritative" in judge_authoritative("example.net", soa, served, wanted).summary


def test_glue_only_for_name_servers_inside_the_domain():
    names, glue = registrar_entries(
        "example.net", ["ns1.example.net", "ns6.gandi.net"], "192.0.2.1", "2001:db8::1"
    )
    assert names == {"ns1.example.net.", "ns6.gandi.net."}
    assert glue == {"ns1.example.net. 192.0.2.1", "ns1.example.net. 2001:db8::1"}


def test_registrar_verdicts():
    names, glue = {"ns1.example.net."}, {"ns1.example.net. 192.0.2.1"}
    right = Delegation("net.", ("192.0.2.53",), frozenset(names), frozenset(glue))
    assert judge_registrar("example.net", names, glue, right, "").status == "ok"
    no_glue = Delegation("net.", ("192.0.2.53",), frozenset(names))
    result = judge_registrar("example.net", names, glue, no_glue, "")
    assert result.status == "fail" and "missing glue ns1.example.net. 192.0.2.1" in result.summary
    unreadable = Delegation(error="timeout")
    result = judge_registrar("example.net", names, glue, unreadable, "192.0.2.53")
    assert result.status == "warn"
    assert "NS ns1.example.net." in result.evidence and "192.0.2.53" in result.hint
