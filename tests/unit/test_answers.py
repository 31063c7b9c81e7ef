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


# ---------------------------------------------------------------- each type parses into a value

ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEw4T4jNCSPapkuLfu7+Q8ATIzdYckufv30xd3CcG9ZG alice@laptop"
)
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBERA+EAumeoOYWzDUmkK"
    "ZoDOCAPa/ee2h9FgdtZNP7KoxYUvWzrNCto5j4nVGtWQiOzMV4ulAscyYMg1qPdJV4M= alice@laptop"
)
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDrumY0iHBcA0o3I+ZfbxDx6MLpZUJu2rdVH3IGS2A4u3+Ce2yeiTYPb1"
    "3GDUwbBHp5qKP+95dXoyjMuvsJHTsyqbg7DHrB3aUl5Xl6mveXzU49zTeg2eyc6C2JlPTCPyONDTp7McL3/yHS1hNa7QPR"
    "LEZEeU2PFI3IUSAqBfkWKVu+KTZnoIM+Rkl8BQ+I2BpMa9HjxthvET2nEUmvGAEJiP8u7O5+P+1+JJsVUUROvlJbRvOLB5"
    "xTrRAVFj+/q25frwH7eBMsaL0NwVggJYAjTTdbv1uzU/XAtMqPp5ua9t6TUzn0aprPfsiFmKZR4O2097pTiVu2/PAkJUfk"
    "+nL7 alice@laptop"
)


def ssh_blob(*fields: bytes) -> str:
    """An SSH key blob (RFC 4251 strings), base64 as a .pub file holds it."""
    import base64

    return base64.b64encode(b"".join(len(f).to_bytes(4, "big") + f for f in fields)).decode()


def parse(type_: str, raw, **question):
    from wizard.steps import Question

    return parse_answer(Question("q", type_, "q", **question), raw)


def refusal(type_: str, raw, **question) -> str:
    with pytest.raises(AnswerError) as refused:
        parse(type_, raw, **question)
    return refused.value.message


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("ip", "192.0.2.10", "192.0.2.10"),
        ("ip", "2001:DB8:0:0::1", "2001:db8::1"),
        ("ipv4", " 192.0.2.10 ", "192.0.2.10"),
        ("ipv6", "2001:0db8::0001", "2001:db8::1"),
        ("ipv6", "fe80::1", "fe80::1"),
        ("network_list", ["fe80::/10", "192.0.2.0/24"], ("fe80::/10", "192.0.2.0/24")),
        ("network_list", "192.0.2.7/24", ("192.0.2.0/24",)),
        ("port", 2222, 2222),
        ("port", " 2222 ", 2222),
        ("port", "65535", 65535),
        ("port_list", [8080, "53/UDP"], ("8080/tcp", "53/udp")),
        ("port_list", 8443, ("8443/tcp",)),
        ("ssh_pubkey", ED25519, ED25519),
        ("ssh_pubkey", ECDSA, ECDSA),
        ("ssh_pubkey", RSA, RSA),
        ("ssh_pubkey", "ssh-ed25519  " + ED25519.split()[1], "ssh-ed25519 " + ED25519.split()[1]),
        ("email", "o'brien+tag@Example.org", "o'brien+tag@example.org"),
        ("url", "https://acme.example.org:14000/dir", "https://acme.example.org:14000/dir"),
        ("secret", "  twelve chars or more  ", "  twelve chars or more  "),
        ("bool", False, False),
        ("hostname", "VPS", "vps"),
    ],
)
def test_accepted_answers_render_from_their_parsed_value(type_, raw, expected):
    assert parse(type_, raw) == expected


def test_a_security_key_is_accepted_when_its_blob_matches():
    line = "sk-ssh-ed25519@openssh.com " + ssh_blob(
        b"sk-ssh-ed25519@openssh.com", bytes(32), b"ssh:"
    )
    assert parse("ssh_pubkey", line) == line


@pytest.mark.parametrize(
    ("type_", "raw", "reason"),
    [
        # a zone id let any text through: these became ::/0 in allow-transfer and ignoreip
        ("network_list", ["fe80::1%1; 0.0.0.0/0"], "zone id"),
        ("network_list", ["fe80::1%x 0.0.0.0/0"], "zone id"),
        ("network_list", "fe80::1%eth0", "zone id"),
        ("ip", "fe80::1%$(id)", "zone id"),
        ("ipv6", "fe80::1%eth0", "zone id"),
        ("ipv4", "2001:db8::1", "is an IPv6 address; this question wants an IPv4 address"),
        ("ipv6", "192.0.2.10", "is an IPv4 address; this question wants an IPv6 address"),
        ("ipv6", "::ffff:192.0.2.10", "the IPv4 address 192.0.2.10 written as IPv6"),
        ("ipv4", "192.0.2.300", "not an IPv4 or IPv6 address"),
        ("ipv4", "010.0.0.1", "not an IPv4 or IPv6 address"),
        # a port is a whole number of ASCII digits, nothing Python's int() would also take
        ("port", 22.9, "whole number"),
        ("port", 22.0, "whole number"),
        ("port", True, "whole number"),
        ("port", "22.9", "whole number"),
        ("port", "2 2", "whole number"),
        ("port", "2_222", "whole number"),
        ("port", "+22", "whole number"),
        ("port", "0x16", "whole number"),
        ("port", "٢٢", "whole number"),
        ("port", 0, "between 1 and 65535"),
        ("port", 70000, "between 1 and 65535"),
        ("port_list", "٨٠", "not a port"),
        ("port_list", [True], "expected text"),
        ("port_list", "8080/tcp;id", "not a port"),
        # a public key's data must decode and hold a key of the type the line names
        ("ssh_pubkey", "ssh-ed25519 AAAA$(id)", "damaged"),
        ("ssh_pubkey", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", "damaged"),
        ("ssh_pubkey", "ssh-ed25519 " + ssh_blob(b"ssh-ed25519", bytes(31)), "damaged"),
        ("ssh_pubkey", "ssh-ed25519 " + ssh_blob(b"ssh-ed25519", bytes(32), b"x"), "damaged"),
        ("ssh_pubkey", "ssh-rsa " + ED25519.split()[1], "says ssh-rsa but its data holds ssh-ed"),
        ("ssh_pubkey", "ssh-ed25519 " + ssh_blob(b"\x1b]0;x\x07", bytes(32)), "something else"),
        ("ssh_pubkey", "ssh-ed25519 " + ED25519.split()[1][:-4], "damaged"),
        (
            "ssh_pubkey",
            "ecdsa-sha2-nistp384 " + ssh_blob(b"ecdsa-sha2-nistp384", b"nistp256", b"\x04"),
            "damaged",
        ),
        ("ssh_pubkey", 'command="sh" ' + ED25519, "not an OpenSSH public key"),
        ("ssh_pubkey", ED25519 + "; rm -rf /", "comment may hold"),
        # e-mail addresses a program would read as an option, or that no server accepts
        ("email", "-oProxyCommand=x@example.org", "cannot start with '-'"),
        ("email", "a..b@example.org", "'..'"),
        ("email", ".alice@example.org", "cannot start or end with '.'"),
        ("email", "alice@exämple.org", "xn--"),
        ("fqdn", "bücher.example", "xn--"),
        ("url", "https://acme.example.org:99999/dir", "https:// address"),
        ("url", "https://acme.example.org/dir\u2028x", "single line"),
        ("secret", 123456789012, "expected text"),
        ("bool", 1, "true or false"),
        ("fqdn", 42, "expected text (in quotes in an answers file), got a number"),
        ("fqdn", ["a.example.org"], "got a list"),
    ],
)
def test_refused_answers_say_what_to_write(type_, raw, reason):
    assert reason in refusal(type_, raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("vps\texample", "U+0009"),
        ("vps\x1b]0;owned\x07", "U+001B"),
        ("vps\x7f", "U+007F"),
        ("vps\x9b31m", "U+009B"),
        ("vps\u202eexample", "U+202E"),
        ("vps\u200bexample", "U+200B"),
        ("vps\u2028example", "single line"),
        ("vps\u2029example", "single line"),
        ("vps\x85example", "single line"),
        ("vps\x0bexample", "single line"),
    ],
)
@pytest.mark.parametrize("type_", ["hostname", "secret", "ssh_pubkey", "email", "timezone"])
def test_no_text_answer_holds_a_control_character(type_, raw, reason):
    message = refusal(type_, raw)
    assert reason in message
    assert message.isprintable()


def test_a_choice_takes_a_number_as_the_text_an_answers_file_naturally_holds():
    assert parse("choice", 5, choices=("3", "5", "10")) == "5"
    assert parse("choice", 8.2, choices=("8.2", "8.3")) == "8.2"
    assert "choose one of: 3, 5, 10" in refusal("choice", 4, choices=("3", "5", "10"))
    assert "choose one of" in refusal("choice", 5.0, choices=("3", "5", "10"))
    assert "expected text" in refusal("choice", True, choices=("3", "5", "10"))


def test_an_empty_list_is_no_answer_like_empty_text():
    assert parse("network_list", [], required=False) == ()
    assert parse("network_list", "  ", required=False) == ()
    assert refusal("network_list", []) == "an answer is needed"
    assert refusal("port", "   ") == "an answer is needed"


def test_the_dns_zone_asks_for_an_ipv4_and_an_ipv6_address():
    step = CATALOG.get("dns-zone")
    assert "IPv6 address" in refusal_of(step.question("ipv4"), "2001:db8::1")
    assert "IPv4 address" in refusal_of(step.question("ipv6"), "192.0.2.10")
    assert parse_answer(step.question("ipv6"), "") == ""


def refusal_of(question, raw) -> str:
    with pytest.raises(AnswerError) as refused:
        parse_answer(question, raw)
    return refused.value.message


def test_every_question_of_the_catalog_has_a_known_type():
    for step in CATALOG.steps:
        for question in step.questions:
            try:
                parse_answer(question, "")
            except AnswerError as error:
                assert "unknown question type" not in error.message, (step.id, question.name)
