"""A port that takes no TCP connection reads as closed or filtered, with the firewall's
follow-up as the hint: never as a TLS version or cipher the tls step should set again."""

from __future__ import annotations

import datetime
import socket

from wizard.checks.mail import ImapsSeen, judge_imaps
from wizard.checks.tls import (
    DefaultProbe,
    judge_alpn,
    judge_certificate,
    judge_ciphers,
    judge_default_server,
    judge_protocols,
)
from wizard.checks.verdicts import judge_profiles
from wizard.probes.tls import TIMEOUT, Handshake, handshake
from wizard.probes.tlsscan import Accepted

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
FILTERED = Handshake(error="TimeoutError: timed out", no_connection=True)
CLOSED = Handshake(
    error="ConnectionRefusedError: [Errno 111] Connection refused",
    no_connection=True,
    nothing_listens=True,
)
ALERT = Handshake(error="[SSL: TLSV1_ALERT_PROTOCOL_VERSION] alert", refused_by_server=True)


def says_closed_port(result) -> None:
    assert result.status == "fail"
    assert "closed or filtered" in result.summary
    assert "apply the firewall step again" in result.hint
    assert "run the tls step again" not in result.hint


def test_a_filtered_port_is_not_a_refused_tls_version():
    seen = dict.fromkeys(("TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"), FILTERED)
    result = judge_protocols("example.net", seen)
    says_closed_port(result)
    assert "TLS 1.2 refused" not in result.summary
    assert "TLS 1.2: no connection (TimeoutError: timed out)" in result.evidence


def test_a_closed_port_fails_every_tls_judge_with_the_firewall_hint():
    for attempt in (FILTERED, CLOSED):
        says_closed_port(judge_ciphers("example.net", attempt))
        says_closed_port(judge_alpn("example.net", attempt))
        probes = [DefaultProbe("by address (no SNI)", attempt), DefaultProbe("unknown", attempt)]
        says_closed_port(judge_default_server(["example.net"], probes))
    served = {"example.net": f"no connection: {FILTERED.error}"}
    says_closed_port(judge_certificate(["example.net"], "acme", served, {}, "match", NOW))


def test_a_scan_that_got_no_answer_points_at_the_port():
    down = judge_profiles("tls.profile", "x", {443: Accepted(unreachable="timed out")}, "h")
    assert down.status == "fail" and "apply the firewall step again" in down.hint


def test_imaps_on_a_filtered_port_points_at_the_firewall():
    seen = ImapsSeen(modern=FILTERED, old=FILTERED, greeting="", plain_port="refused")
    result = judge_imaps("mail.example.net", seen, NOW)
    assert result.status == "fail" and "port 993 closed or filtered" in result.summary
    assert "apply the firewall step again" in result.hint


def test_imaps_where_nothing_listens_points_at_dovecot():
    # A refused connection is the server saying nothing listens: Dovecot is down, and the
    # wizard's firewall (which drops) is not the cause.
    seen = ImapsSeen(modern=CLOSED, old=CLOSED, greeting="", plain_port="refused")
    result = judge_imaps("mail.example.net", seen, NOW)
    assert result.status == "fail" and "no IMAP over TLS" in result.summary
    assert "is Dovecot running" in result.hint


def test_a_refused_handshake_still_blames_tls():
    seen = {"TLS 1.0": ALERT, "TLS 1.1": ALERT, "TLS 1.2": ALERT, "TLS 1.3": ALERT}
    result = judge_protocols("example.net", seen)
    assert result.status == "fail" and "TLS 1.2 refused" in result.summary
    assert "run the tls step again" in result.hint


def test_handshake_marks_a_port_nothing_listens_on():
    # A port of this machine that was just free: the connect is refused, no TLS is tried.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempt = handshake("127.0.0.1", "example.net", port=port, timeout=TIMEOUT)
    assert attempt.no_connection and attempt.nothing_listens
    assert "ConnectionRefusedError" in attempt.error
