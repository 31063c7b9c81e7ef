"""The mail step's pure parts: the mailbox parser, the judges of wizard/checks/mail.py, and the
step's templates rendered against typical answers."""

from __future__ import annotations

import datetime
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wizard.answers import AnswerError, parse_local_part_list, validate_answers
from wizard.catalog import load_catalog
from wizard.checks.mail import (
    ImapsSeen,
    judge_auth_after_tls,
    judge_banner,
    judge_delivery,
    judge_imaps,
    judge_no_open_relay,
    judge_outbound_tls,
    judge_starttls,
    judge_submission_auth,
    parse_postconf,
)
from wizard.plan import render_step
from wizard.probes.smtp import SmtpSeen
from wizard.probes.tls import Handshake
from wizard.probes.tlsscan import INTERMEDIATE_CIPHERS

NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)
TLS12 = Handshake(version="TLSv1.2", cipher="ECDHE-ECDSA-AES256-GCM-SHA384")
TLS13 = Handshake(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384")
REFUSED = Handshake(error="tlsv1 alert protocol version", refused_by_server=True)
BEFORE = {"size": "26214400", "starttls": ""}


# ----------------------------------------------------------------------------- parser


def test_mailbox_names_are_lowered_split_and_deduplicated():
    assert parse_local_part_list("Contact, admin  a.b,x-y,contact") == (
        "contact",
        "admin",
        "a.b",
        "x-y",
    )
    assert parse_local_part_list(["Jane_Doe"]) == ("jane_doe",)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("jane@example.org", "only the part before the @"),
        (".jane", "not a mailbox name"),
        ("jane.", "not a mailbox name"),
        ("ja..ne", "not a mailbox name"),
        ("-jane", "not a mailbox name"),
        ("jané", "not a mailbox name"),
        ("a;rm", "not a mailbox name"),
        ("$(id)", "not a mailbox name"),
        ("a" * 65, "not a mailbox name"),
        ("ok\nbad", "single line"),
    ],
)
def test_mailbox_names_that_could_break_a_path_or_a_shell_are_refused(raw, reason):
    with pytest.raises(AnswerError, match=re.escape(reason)):
        parse_local_part_list(raw)


def mail_answers(**changes):
    raw = {
        "domain": "example.net",
        "hostname": "mail.example.net",
        "mailboxes": "contact, admin",
        "password": "",
        "size_limit_mb": "25",
        "cert_source": "self-signed",
        "cert_file": "",
        "key_file": "",
    }
    raw.update(changes)
    return validate_answers(load_catalog().get("mail"), raw)


def test_the_step_questions_are_typed():
    answers = mail_answers()
    assert answers.values["mailboxes"] == ("contact", "admin")
    assert answers.secrets == frozenset({"password"})
    with pytest.raises(AnswerError, match=r"mail\.size_limit_mb: choose one of"):
        mail_answers(size_limit_mb="12")
    with pytest.raises(AnswerError, match=r"mail\.mailboxes: an answer is needed"):
        mail_answers(mailboxes="")
    with pytest.raises(AnswerError, match="at least 12 characters"):
        mail_answers(password="short")


def render(os_version="12", **changes):
    step = load_catalog().get("mail")
    answers = mail_answers(**changes)
    context = {
        "answers": dict(answers.values),
        "facts": {"fqdn": "test.example.net", "os_version": os_version},
        "steps": {"base": {"fqdn": "test.example.net"}},
    }
    desired = render_step(step, context)
    files = {file.dest: file.content.decode() for file in desired.files}
    return files, [command.run for command in desired.commands]


def test_postfix_settings_render_one_postconf_line_each():
    files, _ = render(size_limit_mb="50")
    main = files["/etc/postfix/vps-wizard/main.cf"]
    lines = [line for line in main.splitlines() if line and not line.startswith("#")]
    assert all(" = " in line for line in lines), lines
    assert "message_size_limit = 52428800" in lines
    assert "mydestination = test.example.net, localhost.localdomain, localhost" in lines
    assert "smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt" in lines
    assert "smtpd_tls_cert_file = /etc/ssl/vps-wizard/mail.example.net/fullchain.pem" in lines
    assert files["/etc/postfix/vps-wizard/vmailbox"].splitlines()[1:] == [
        "contact@example.net example.net/contact/",
        "admin@example.net example.net/admin/",
    ]


def test_postfix_and_dovecot_follow_mozilla_intermediate_and_the_banner_names_no_software():
    files, _ = render()
    main = files["/etc/postfix/vps-wizard/main.cf"].splitlines()
    for line in (
        "smtpd_tls_protocols = >=TLSv1.2",
        "smtpd_tls_mandatory_protocols = >=TLSv1.2",
        "smtpd_tls_ciphers = high",
        "smtpd_tls_mandatory_ciphers = high",
        f"tls_high_cipherlist = {INTERMEDIATE_CIPHERS}",
        "tls_eecdh_auto_curves = X25519 prime256v1 secp384r1",
        "smtpd_banner = $myhostname ESMTP",
    ):
        assert line in main, line
    # Postfix 3.7 (Debian 12) has no FFDHE groups setting: postconf would call it unused.
    assert not [line for line in main if line.startswith("tls_ffdhe_auto_groups")]
    newer = render(os_version="13")[0]["/etc/postfix/vps-wizard/main.cf"].splitlines()
    assert "tls_ffdhe_auto_groups =" in newer
    dovecot = files["/etc/dovecot/conf.d/99-vps-wizard.conf"].splitlines()
    assert f"ssl_cipher_list = {INTERMEDIATE_CIPHERS}" in dovecot
    assert "ssl_curve_list = X25519:prime256v1:secp384r1" in dovecot
    assert "ssl_min_protocol = TLSv1.2" in dovecot


def test_postmaster_is_an_alias_unless_it_is_a_mailbox():
    files, _ = render()
    assert "postmaster@example.net contact@example.net" in files["/etc/postfix/vps-wizard/virtual"]
    files, _ = render(mailboxes="postmaster")
    virtual = files["/etc/postfix/vps-wizard/virtual"]
    assert not [line for line in virtual.splitlines() if line.startswith("postmaster@")]
    assert "abuse@example.net postmaster@example.net" in virtual


def test_the_password_goes_only_into_the_secret_file_and_only_when_given():
    files, commands = render()
    assert "/etc/dovecot/private/vps-wizard-new-mailbox-password" not in files
    files, commands = render(password="correct-horse-mail-staple")
    assert files["/etc/dovecot/private/vps-wizard-new-mailbox-password"] == (
        "correct-horse-mail-staple\n"
    )
    assert not any("correct-horse" in command for command in commands)
    step = load_catalog().get("mail")
    secret = [f for f in step.files if f.dest.endswith("new-mailbox-password")]
    assert secret[0].secret and secret[0].mode == "0600"


# ----------------------------------------------------------------------------- judges


def starttls_seen(changes: dict[str, Handshake] | None = None) -> dict[str, SmtpSeen]:
    wanted = {"TLS 1.0": REFUSED, "TLS 1.1": REFUSED, "TLS 1.2": TLS12, "TLS 1.3": TLS13}
    wanted.update(changes or {})
    return {label: SmtpSeen(25, before=BEFORE, tls=tls) for label, tls in wanted.items()}


def test_starttls_ok_with_only_tls_1_2_and_1_3():
    assert judge_starttls("mail.example.net", starttls_seen()).status == "ok"


def test_starttls_fails_when_tls_1_0_is_accepted():
    old = Handshake(version="TLSv1", cipher="ECDHE-ECDSA-AES256-SHA")
    result = judge_starttls("mail.example.net", starttls_seen({"TLS 1.0": old}))
    assert result.status == "fail"
    assert "TLS 1.0 accepted" in result.summary
    assert "smtpd_tls_protocols" in result.hint


def test_starttls_fails_without_starttls_or_without_forward_secrecy():
    plain = {label: SmtpSeen(25, before={"size": "1"}) for label in ("TLS 1.0",)}
    result = judge_starttls("mail.example.net", plain)
    assert result.status == "fail" and "does not offer STARTTLS" in result.summary
    rsa = Handshake(version="TLSv1.2", cipher="AES256-GCM-SHA384")
    result = judge_starttls("mail.example.net", starttls_seen({"TLS 1.2": rsa}))
    assert result.status == "fail" and "without forward secrecy" in result.summary


def test_starttls_fails_when_port_25_does_not_answer():
    seen = {"TLS 1.0": SmtpSeen(25, error="TimeoutError: timed out")}
    result = judge_starttls("mail.example.net", seen)
    assert result.status == "fail" and "firewall" in result.hint


def test_auth_before_starttls_fails_on_any_port():
    after = {"auth": " PLAIN LOGIN"}
    good = [SmtpSeen(25, before=BEFORE, tls=TLS13), SmtpSeen(587, before=BEFORE, after=after)]
    assert judge_auth_after_tls(good).status == "ok"
    leaking = [SmtpSeen(25, before={**BEFORE, "auth": "PLAIN"}), good[1]]
    result = judge_auth_after_tls(leaking)
    assert result.status == "fail"
    assert "before STARTTLS on port 25" in result.summary
    assert "smtpd_tls_auth_only = yes" in result.hint
    no_login = [good[0], SmtpSeen(587, before=BEFORE, after={})]
    assert "does not offer AUTH after STARTTLS" in judge_auth_after_tls(no_login).summary


def test_submission_without_login_must_be_refused():
    refused = SmtpSeen(
        587,
        tls=TLS13,
        replies=(("MAIL FROM:<a@b.c>", "250 2.1.0 Ok"), ("RCPT TO:<p@d.e>", "554 5.7.1 denied")),
    )
    assert judge_submission_auth(refused).status == "ok"
    accepted = SmtpSeen(
        587,
        tls=TLS13,
        replies=(("MAIL FROM:<a@b.c>", "250 Ok"), ("RCPT TO:<p@d.e>", "250 Ok")),
    )
    result = judge_submission_auth(accepted)
    assert result.status == "fail" and "permit_sasl_authenticated,reject" in result.hint
    assert judge_submission_auth(SmtpSeen(587, error="refused")).status == "fail"
    # Relay refused, but the local mailbox taken without a login: port 25's rules on 587.
    local_only = SmtpSeen(
        587,
        tls=TLS13,
        replies=(
            ("MAIL FROM:<a@b.c>", "250 Ok"),
            ("RCPT TO:<postmaster@example.net>", "250 Ok"),
            ("RCPT TO:<x@example.com>", "554 5.7.1 Relay access denied"),
        ),
    )
    assert judge_submission_auth(local_only).status == "fail"


def relay_seen(reply: str) -> SmtpSeen:
    return SmtpSeen(
        25, tls=TLS13, replies=(("MAIL FROM:<a@b.c>", "250 Ok"), ("RCPT TO:<x>", reply))
    )


def test_open_relay_fails_a_deferral_warns_a_refusal_passes():
    assert judge_no_open_relay(relay_seen("554 5.7.1 Relay access denied"), False).status == "ok"
    result = judge_no_open_relay(relay_seen("250 2.1.5 Ok"), False)
    assert result.status == "fail" and "OPEN RELAY" in result.summary
    assert "reject_unauth_destination" in result.hint
    assert judge_no_open_relay(relay_seen("454 4.7.1 Relay access denied"), False).status == (
        "warn"
    )
    # Through a local forward Postfix trusts the client (mynetworks): nothing proven.
    assert judge_no_open_relay(relay_seen("250 Ok"), True).status == "warn"


def certificate(name: str, days: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - datetime.timedelta(days=400))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def imaps_seen(name="mail.example.net", days=90, old=REFUSED, plain="filtered") -> ImapsSeen:
    modern = Handshake(
        version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", leaf=certificate(name, days)
    )
    return ImapsSeen(modern, old, "* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.", plain)


def test_imaps_ok_wrong_name_old_tls_expired_plain_port():
    assert judge_imaps("mail.example.net", imaps_seen(), NOW).status == "ok"
    result = judge_imaps("mail.example.net", imaps_seen(name="vps.example.net"), NOW)
    assert result.status == "fail" and "does not cover mail.example.net" in result.summary
    accepted = Handshake(version="TLSv1.1", cipher="ECDHE-ECDSA-AES256-SHA")
    result = judge_imaps("mail.example.net", imaps_seen(old=accepted), NOW)
    assert result.status == "fail" and "ssl_min_protocol" in result.hint
    assert "expired" in judge_imaps("mail.example.net", imaps_seen(days=-2), NOW).summary
    assert "143" in judge_imaps("mail.example.net", imaps_seen(plain="open"), NOW).summary


def test_imaps_fails_with_dovecot_stopped():
    down = ImapsSeen(Handshake(error="ConnectionRefusedError"), REFUSED, "", "refused")
    result = judge_imaps("mail.example.net", down, NOW)
    assert result.status == "fail" and "systemctl status dovecot" in result.hint


def test_delivery_judged_on_the_maildir():
    found = "/var/mail/vhosts/example.net/contact/new/1.M2, vmail 600"
    assert judge_delivery("contact@example.net", "250 queued", found, "", "").status == "ok"
    result = judge_delivery("contact@example.net", "250 queued", "", "", "lmtp error")
    assert result.status == "fail" and "did not arrive" in result.summary
    result = judge_delivery("contact@example.net", "550 5.1.1 User unknown", "", "", "")
    assert result.status == "fail" and "vmailbox" in result.hint


POSTCONF = """smtp_tls_security_level = may
smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt
smtp_tls_CApath = /etc/ssl/certs
smtp_dns_support_level ="""


def test_outbound_tls_needs_a_level_and_a_ca_file_or_dane():
    assert parse_postconf(POSTCONF)["smtp_dns_support_level"] == ""
    assert judge_outbound_tls(POSTCONF, 0, "present 148 certificates").status == "ok"
    result = judge_outbound_tls(POSTCONF.replace("/etc/ssl/certs/ca-", ""), 0, "unset")
    assert result.status == "fail" and "smtp_tls_CAfile is not set" in result.summary
    assert "Untrusted TLS connection" in result.hint and "chroot" in result.hint
    result = judge_outbound_tls(POSTCONF.replace("= may", "= none"), 0, "present 1 certificates")
    assert result.status == "fail" and "in clear" in result.summary
    dane = POSTCONF.replace("= may", "= dane").replace("support_level =", "support_level = dnssec")
    assert judge_outbound_tls(dane, 0, "unset").status == "ok"
    assert judge_outbound_tls("", 127, "").status == "fail"


def test_the_banner_names_the_host_and_esmtp_only():
    host = "mail.example.net"
    good = judge_banner(host, {25: f"{host} ESMTP", 587: f"{host} ESMTP"})
    assert good.status == "ok" and f"port 25: 220 {host} ESMTP" in good.evidence
    debian = judge_banner(host, {25: f"{host} ESMTP Postfix (Debian/GNU)", 587: f"{host} ESMTP"})
    assert debian.status == "fail" and "Postfix (Debian/GNU)" in debian.summary
    assert "port 587" not in debian.summary and "smtpd_banner" in debian.hint
    silent = judge_banner(host, {25: "@@ ConnectionRefusedError: refused", 587: f"{host} ESMTP"})
    assert silent.status == "fail" and "port 25" in silent.summary
