"""Answers are typed and validated before any template or shell command sees them."""

from __future__ import annotations

import pytest

from wizard.answers import parse_answer, validate_answers
from wizard.catalog import load_catalog
from wizard.errors import AnswerError

CATALOG = load_catalog()
INJECTIONS = ["bad\nname", "bad name", "bad;name", "bad'name", 'bad"name', "bad$(id)", "bad`id`"]


@pytest.mark.parametrize("raw", INJECTIONS)
@pytest.mark.parametrize(
    ("step_id", "question"),
    [("base", "fqdn"), ("admin-user", "username"), ("fail2ban", "ignore")],
)
def test_injection_attempts_are_refused_with_a_reason(step_id, question, raw):
    spec = CATALOG.get(step_id).question(question)
    with pytest.raises(AnswerError) as refused:
        parse_answer(spec, raw)
    assert refused.value.message


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("fqdn", "VPS.Example.ORG.", "vps.example.org"),
        ("username", "alice_2", "alice_2"),
        ("port", "2222", 2222),
        ("port_list", "8080, 53/udp 8080/tcp", ("8080/tcp", "53/udp")),
        ("network_list", "192.0.2.7, 2001:db8::/32", ("192.0.2.7/32", "2001:db8::/32")),
        ("timezone", "Europe/Paris", "Europe/Paris"),
        ("bool", "yes", True),
        ("email", "root@Example.org", "root@example.org"),
    ],
)
def test_good_answers_are_normalized(type_, raw, expected):
    from wizard.steps import Question

    assert parse_answer(Question("q", type_, "q"), raw) == expected


@pytest.mark.parametrize(
    ("type_", "raw", "reason"),
    [
        ("fqdn", "localhost", "full name with a dot"),
        ("fqdn", "-bad.example.org", "not a valid label"),
        ("username", "root", "system account"),
        ("username", "Alice", "lower-case"),
        ("port", "70000", "between 1 and 65535"),
        ("port_list", "80/sctp", "not a port"),
        ("network_list", "192.0.2.300", "not an address"),
        ("timezone", "Mars/Olympus", "not a time zone"),
        ("ssh_pubkey", "-----BEGIN OPENSSH PRIVATE KEY-----", "not an OpenSSH public key"),
        ("ssh_pubkey", "ssh-ed25519 AAAA\nssh-rsa AAAA", "single line"),
        ("bool", "maybe", "yes or no"),
    ],
)
def test_bad_answers_say_why(type_, raw, reason):
    from wizard.steps import Question

    with pytest.raises(AnswerError) as refused:
        parse_answer(Question("q", type_, "q"), raw)
    assert reason in refused.value.message


def test_answers_file_names_unknown_questions():
    with pytest.raises(AnswerError) as refused:
        validate_answers(CATALOG.get("fail2ban"), {"bantimee": "1h"})
    assert "no question bantimee" in refused.value.message
    assert "bantime" in refused.value.hint


def test_secret_answers_stay_out_of_the_public_answers():
    from wizard.steps import Question, Step

    step = Step("s", "S", "", questions=(Question("pw", "secret", "pw", secret=True),))
    answers = validate_answers(step, {"pw": "a-long-secret-value"})
    assert answers.public() == {}
    assert answers.secret_values() == ("a-long-secret-value",)


def test_fqdn_list_normalizes_and_names_the_bad_item():
    from wizard.answers import parse_fqdn_list

    assert parse_fqdn_list("NS6.Gandi.net., ns2.example.org ns6.gandi.net") == (
        "ns6.gandi.net",
        "ns2.example.org",
    )
    with pytest.raises(AnswerError, match=r"'bad_name\.org'"):
        parse_fqdn_list("ns1.example.org, bad_name.org")
