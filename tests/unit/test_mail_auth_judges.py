"""The pure parts of the mail-auth checks: SPF parsing, evaluation and lookup count, DMARC
policies, the DKIM verifier (on messages signed here with a key made here), and the verdicts."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wizard import dkim
from wizard.catalog import load_catalog
from wizard.checks.mail_auth import (
    jail_script,
    judge_dkim_record,
    judge_dkim_signature,
    judge_dmarc,
    judge_jail,
    judge_spf,
    parse_dmarc,
    server_key_script,
    signed_message_script,
)
from wizard.plan import DesiredState, render_step
from wizard.spf import LookupFailed, SpfError, analyse_spf, parse_spf

DOMAIN = "example.net"
IPV4, IPV6 = "192.0.2.10", "2001:db8::10"


# ----------------------------------------------------------------------------- a DKIM signer
# Written apart from wizard/dkim.py, straight from RFC 6376, so that a mistake in the verifier's
# canonicalization is not repeated here and hidden.


def _relaxed_header(name: str, value: str) -> str:
    value = re.sub(r"[ \t]+", " ", value.replace("\r\n", "")).strip()
    return f"{name.strip().lower()}:{value}\r\n"


def _relaxed_body(body: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", line).rstrip() for line in body.split("\r\n")]
    text = "\r\n".join(lines).rstrip("\r\n")
    return text + "\r\n" if text else ""


def sign(
    key: rsa.RSAPrivateKey, headers: list[tuple[str, str]], body: str, signed: list[str]
) -> bytes:
    """A message with a relaxed/relaxed rsa-sha256 DKIM-Signature over `signed`, CRLF lines,
    the signature header folded the way OpenDKIM folds it."""
    bh = base64.b64encode(hashlib.sha256(_relaxed_body(body).encode()).digest()).decode()
    value = (
        f" v=1; a=rsa-sha256; c=relaxed/relaxed; d={DOMAIN};\r\n\ts=mail; t=1700000000;\r\n"
        f"\tbh={bh};\r\n\th={':'.join(signed)};\r\n\tb="
    )
    data = ""
    by_name = {name.lower(): val for name, val in headers}
    for name in signed:
        data += _relaxed_header(name, by_name[name.lower()])
    data += _relaxed_header("DKIM-Signature", value).removesuffix("\r\n")
    b = base64.b64encode(key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    folded = "\r\n\t ".join(b[i : i + 70] for i in range(0, len(b), 70))
    lines = [f"DKIM-Signature:{value}{folded}"] + [f"{n}:{v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def key_record(key: rsa.RSAPrivateKey) -> str:
    """The DKIM TXT record of a key, as opendkim-genkey writes it."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; h=sha256; k=rsa; p={base64.b64encode(der).decode()}"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


HEADERS = [
    ("From", " vps-wizard check <postmaster@example.net>"),
    ("To", " <postmaster@example.net>"),
    ("Subject", "  a   subject\r\n\twith folding  "),
    ("Date", " Wed, 29 Nov 2023 10:00:00 +0000"),
]
BODY = "Hello  there, \r\n\r\nsecond\tparagraph\r\n\r\n\r\n"
SIGNED = ["from", "to", "subject", "date"]


@pytest.fixture(scope="module")
def message(key) -> bytes:
    return sign(key, HEADERS, BODY, SIGNED)


def test_rfc_6376_canonicalization_examples():
    # RFC 6376 3.4.5, the two examples, header and body.
    assert dkim.relaxed_header(b"A: X\r\n") == b"a:X\r\n"
    assert dkim.relaxed_header(b"B : Y\t\r\n\tZ  \r\n") == b"b:Y Z\r\n"
    assert dkim.relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert dkim.simple_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C \r\nD \t E\r\n"
    assert dkim.relaxed_body(b"") == b"" and dkim.simple_body(b"") == b"\r\n"


def test_a_message_signed_here_verifies(message, key):
    [signature] = dkim.signatures(message)
    assert (signature.domain, signature.selector) == (DOMAIN, "mail")
    verdict = dkim.verify(message, signature, dkim.public_key(key_record(key)))
    assert verdict.valid, verdict.reason


def test_as_a_maildir_stores_it_with_lf_and_delivery_headers_on_top(message, key):
    stored = b"Return-Path: <postmaster@example.net>\nDelivered-To: postmaster@example.net\n"
    stored += message.replace(b"\r\n", b"\n")
    [signature] = dkim.signatures(stored)
    assert dkim.verify(stored, signature, dkim.public_key(key_record(key))).valid


def test_a_tampered_body_fails_on_the_body_hash(message, key):
    tampered = message.replace(b"second\tparagraph", b"second paragraph!")
    [signature] = dkim.signatures(tampered)
    verdict = dkim.verify(tampered, signature, dkim.public_key(key_record(key)))
    assert not verdict.valid and "body hash" in verdict.reason


def test_whitespace_changes_survive_relaxed_canonicalization(message, key):
    reflowed = message.replace(b"Hello  there, ", b"Hello there,").replace(
        b"Subject:  a   subject", b"Subject: a subject"
    )
    [signature] = dkim.signatures(reflowed)
    assert dkim.verify(reflowed, signature, dkim.public_key(key_record(key))).valid


def test_a_changed_signed_header_or_another_key_fails_the_signature(message, key, other_key):
    changed = message.replace(b"a   subject", b"another subject")
    [signature] = dkim.signatures(changed)
    verdict = dkim.verify(changed, signature, dkim.public_key(key_record(key)))
    assert not verdict.valid and verdict.body_hash_ok and "b=" in verdict.reason
    [signature] = dkim.signatures(message)
    verdict = dkim.verify(message, signature, dkim.public_key(key_record(other_key)))
    assert not verdict.valid and "does not verify" in verdict.reason


def test_key_records_that_cannot_verify_are_refused():
    with pytest.raises(dkim.DkimError, match="revoked"):
        dkim.public_key("v=DKIM1; k=rsa; p=")
    with pytest.raises(dkim.DkimError, match="not a public key"):
        dkim.public_key("v=DKIM1; k=rsa; p=AAAA")
    with pytest.raises(dkim.DkimError, match="twice"):
        dkim.parse_tags("v=1; v=1")


# ----------------------------------------------------------------------------- SPF


def dns(records: dict[tuple[str, str], list[str]]):
    """A lookup answering from a table; names marked 'FAIL' do not answer."""

    def lookup(name: str, rdtype: str) -> list[str]:
        if records.get((name, "FAIL")):
            raise LookupFailed(f"{name} {rdtype}: SERVFAIL")
        return records.get((name, rdtype), [])

    return lookup


def test_spf_parsing():
    terms = parse_spf("v=spf1 ip4:192.0.2.0/24 a:mail.example.net/28//64 ~include:x.org -all")
    assert [(t.qualifier, t.name) for t in terms] == [
        ("+", "ip4"),
        ("+", "a"),
        ("~", "include"),
        ("-", "all"),
    ]
    assert terms[1].value == "mail.example.net" and (terms[1].cidr4, terms[1].cidr6) == (28, 64)
    assert parse_spf("v=spf1 redirect=_spf.example.net")[0].modifier
    for bad in (
        "v=spf2 -all",
        "v=spf1 ip4:2001:db8::1 -all",
        "v=spf1 foo:bar -all",
        "v=spf1 include -all",
        "v=spf1 redirect=a redirect=b",
    ):
        with pytest.raises(SpfError):
            parse_spf(bad)


def test_the_steps_record_passes_for_both_addresses():
    lookup = dns({(DOMAIN, "TXT"): [f"v=spf1 ip4:{IPV4} ip6:{IPV6} -all", "other=txt"]})
    result = judge_spf(analyse_spf(DOMAIN, [IPV4, IPV6], lookup))
    assert result.status == "ok", result
    assert "0 lookup" in result.summary and "-all" in result.summary


def test_a_record_missing_the_servers_ip_fails():
    lookup = dns({(DOMAIN, "TXT"): [f"v=spf1 ip4:{IPV4} -all"]})
    result = judge_spf(analyse_spf(DOMAIN, [IPV4, IPV6], lookup))
    assert result.status == "fail" and f"does not authorize {IPV6} (fail)" in result.summary
    assert "mail-auth step again" in result.hint


def test_a_mx_and_include_authorize_through_lookups():
    lookup = dns(
        {
            (DOMAIN, "TXT"): ["v=spf1 mx include:_spf.example.org -all"],
            (DOMAIN, "MX"): ["mail.example.net"],
            ("mail.example.net", "A"): ["192.0.2.99"],
            ("_spf.example.org", "TXT"): [f"v=spf1 a:out.example.org/24 ip6:{IPV6}/64 ~all"],
            ("out.example.org", "A"): ["192.0.2.200"],
        }
    )
    findings = analyse_spf(DOMAIN, [IPV4, IPV6, "198.51.100.1"], lookup)
    assert findings.lookups == 3
    assert findings.results == {IPV4: "pass", IPV6: "pass", "198.51.100.1": "fail"}


def test_more_than_ten_lookups_fail_counting_nested_includes():
    table = {
        (DOMAIN, "TXT"): [f"v=spf1 ip4:{IPV4} include:a.example.org include:b.example.org -all"]
    }
    table[("a.example.org", "TXT")] = [
        "v=spf1 " + " ".join(f"a:h{i}.example.org" for i in range(5)) + " ~all"
    ]
    table[("b.example.org", "TXT")] = ["v=spf1 mx mx:x.org exists:y.org ptr -all"]
    result = judge_spf(analyse_spf(DOMAIN, [IPV4], dns(table)))
    assert result.status == "fail" and "needs 11 DNS lookups" in result.summary


def test_plus_all_no_record_and_two_records_fail():
    open_all = dns({(DOMAIN, "TXT"): [f"v=spf1 ip4:{IPV4} +all"]})
    assert "ends in +all" in judge_spf(analyse_spf(DOMAIN, [IPV4], open_all)).summary
    none = judge_spf(analyse_spf(DOMAIN, [IPV4], dns({})))
    assert none.status == "fail" and "no v=spf1" in none.summary
    two = dns({(DOMAIN, "TXT"): ["v=spf1 -all", "v=spf1 ~all"]})
    assert "2 v=spf1 records" in judge_spf(analyse_spf(DOMAIN, [IPV4], two)).summary


def test_redirect_gives_the_all_and_an_unreadable_include_warns():
    redirected = dns(
        {
            (DOMAIN, "TXT"): ["v=spf1 redirect=_spf.example.net"],
            ("_spf.example.net", "TXT"): [f"v=spf1 ip4:{IPV4} -all"],
        }
    )
    assert judge_spf(analyse_spf(DOMAIN, [IPV4], redirected)).status == "ok"
    unreadable = dns(
        {
            (DOMAIN, "TXT"): [f"v=spf1 ip4:{IPV4} include:gone.example.org -all"],
            ("gone.example.org", "FAIL"): ["yes"],
        }
    )
    result = judge_spf(analyse_spf(DOMAIN, [IPV4], unreadable))
    assert result.status == "warn" and "gone.example.org" in result.evidence


# ----------------------------------------------------------------------------- DMARC


def test_dmarc_policies():
    ok = judge_dmarc(DOMAIN, ["v=DMARC1; p=quarantine; rua=mailto:postmaster@example.net"])
    assert ok.status == "ok" and "p=quarantine" in ok.summary
    assert judge_dmarc(DOMAIN, ["v=DMARC1; p=reject"]).status == "ok"
    none = judge_dmarc(DOMAIN, ["v=DMARC1; p=none"])
    assert none.status == "fail" and "p=none" in none.summary and none.hint
    assert judge_dmarc(DOMAIN, ["v=DMARC1; p=reject; sp=none"]).status == "warn"
    assert judge_dmarc(DOMAIN, ["v=DMARC1; p=reject; pct=20"]).status == "warn"
    assert "no DMARC record" in judge_dmarc(DOMAIN, []).summary
    assert judge_dmarc(DOMAIN, ["v=DMARC1; p=reject", "v=DMARC1; p=none"]).status == "fail"
    assert judge_dmarc(DOMAIN, ["v=DMARC1; rua=mailto:x@example.net"]).status == "fail"
    with pytest.raises(ValueError, match="v=DMARC1"):
        parse_dmarc("p=reject; v=DMARC1")


# ----------------------------------------------------------------------------- DKIM verdicts


def server_sections(key: rsa.RSAPrivateKey) -> dict[str, str]:
    """What server_key_script prints for a key."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = f"/etc/dkimkeys/{DOMAIN}/mail.private"
    return {"PATH": path, "PUBLIC": base64.b64encode(der).decode()}


def test_dkim_record_equal_changed_and_missing(key, other_key):
    same = judge_dkim_record(DOMAIN, "mail", server_sections(key), [key_record(key)], "")
    assert same.status == "ok", same
    changed = judge_dkim_record(DOMAIN, "mail", server_sections(other_key), [key_record(key)], "")
    assert changed.status == "fail" and "not the one OpenDKIM signs with" in changed.summary
    assert "mail-auth step again" in changed.hint and "dkim.zone" in changed.hint
    missing = judge_dkim_record(DOMAIN, "mail", server_sections(key), [], "")
    assert missing.status == "fail" and "no usable DKIM key" in missing.summary
    no_key = judge_dkim_record(DOMAIN, "mail", {"PATH": "", "PUBLIC": ""}, [key_record(key)], "")
    assert no_key.status == "fail" and "no key" in no_key.summary


def test_dkim_signature_verdicts(message, key, other_key):
    sections = {"SENT": "exit 0", "MESSAGE": base64.b64encode(message).decode(), "LOG": ""}
    good = judge_dkim_signature(DOMAIN, "mail", sections, [key_record(key)])
    assert good.status == "ok", good
    bad = judge_dkim_signature(DOMAIN, "mail", sections, [key_record(other_key)])
    assert bad.status == "fail" and "does not verify" in bad.summary
    other_selector = judge_dkim_signature(DOMAIN, "s2", sections, [key_record(key)])
    assert other_selector.status == "fail" and "no DKIM signature" in other_selector.summary
    lost = judge_dkim_signature(DOMAIN, "mail", {**sections, "MESSAGE": ""}, [key_record(key)])
    assert lost.status == "fail" and "did not arrive" in lost.summary


def test_jail_not_running_fails_with_the_fail2ban_step_as_the_fix():
    sections = {"STATUS": "Sorry but the jail 'postfix-auth' does not exist", "STATUS_RC": "255"}
    result = judge_jail(sections)
    assert result.status == "fail" and "fail2ban step again" in result.hint


def test_the_server_scripts_parse():
    for script in (
        jail_script(),
        server_key_script(DOMAIN, "mail"),
        signed_message_script(DOMAIN, "postmaster", "vps-wizard-dkim-0123"),
    ):
        result = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
        assert result.returncode == 0, (result.stderr, script)


# ----------------------------------------------------------------------------- the step


def rendered(mail_domain: str, zone: str) -> DesiredState:
    """The mail-auth step rendered for a mail domain and a dns-zone domain."""
    step = load_catalog().get("mail-auth")
    answers = {
        "selector": "mail",
        "spf_include": ("_spf.example.org",),
        "spf_all": "-all",
        "dmarc_policy": "reject",
        "dmarc_reports": f"postmaster@{mail_domain}",
    }
    steps = {
        "dns-zone": {"domain": zone, "ipv4": IPV4, "ipv6": IPV6},
        "mail": {"domain": mail_domain, "mailboxes": ["contact"]},
    }
    return render_step(step, {"answers": answers, "steps": steps, "facts": {}})


def test_a_mail_domain_outside_the_zone_is_refused_before_anything_is_made():
    for mail_domain, zone, inside in (
        (DOMAIN, DOMAIN, True),
        (f"lists.{DOMAIN}", DOMAIN, True),
        ("example.org", DOMAIN, False),
        (f"bad{DOMAIN}", DOMAIN, False),
    ):
        first = rendered(mail_domain, zone).commands[0]
        assert first.command.stage == "before" and "is not inside the zone" in first.run
        assert first.unless is not None
        guard = subprocess.run(["sh", "-c", first.unless])
        assert (guard.returncode == 0) is inside, (mail_domain, zone)


def test_the_zone_fragment_names_the_servers_addresses_and_the_policy():
    files = {file.dest: file.content.decode() for file in rendered(DOMAIN, DOMAIN).files}
    fragment = files[f"/etc/bind/vps-wizard/{DOMAIN}/mail-auth.zone"]
    assert f'@\tIN TXT\t"v=spf1 ip4:{IPV4} ip6:{IPV6} include:_spf.example.org -all"' in fragment
    assert '_dmarc\tIN TXT\t"v=DMARC1; p=reject; sp=reject;' in fragment
    sub = {file.dest: file.content.decode() for file in rendered(f"lists.{DOMAIN}", DOMAIN).files}
    assert "\n_dmarc.lists\tIN TXT" in sub[f"/etc/bind/vps-wizard/{DOMAIN}/mail-auth.zone"]
