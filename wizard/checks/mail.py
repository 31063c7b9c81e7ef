"""Checks of the mail step: Postfix on 25 and 587 and Dovecot on 993 seen from the wizard's
machine with smtplib and ssl (what another mail server or a mail program gets), a message
delivered end to end, and Postfix's outbound TLS settings read on the server.

Every connection goes to the server's address, with the mail host name as SNI, so the checks
work before the MX record points here. The pure `judge_*` functions decide from what was seen;
the `@check` functions only gather it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import smtplib
import socket
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    exit_code,
    fail,
    marker,
    ok,
    run_sections,
    warn,
)
from wizard.checks.verdicts import (
    CLOSED_HINT,
    CLOSED_PORT,
    WANTED,
    judge_profiles,
    judge_tally,
    tally_versions,
)
from wizard.probes.smtp import (
    HELO,
    SmtpSeen,
    converse,
    greeting_of,
    reply_text,
    smtp_session,
    start_tls,
    starttls_opener,
)
from wizard.probes.sshconfig import server_host
from wizard.probes.tcp import SILENT_TRIES, probe_tcp, silence_wait
from wizard.probes.tls import (
    VERSIONS,
    Handshake,
    cert_info,
    client_context,
    handshake,
    name_matches,
    plain_opener,
)
from wizard.probes.tlsscan import INTERMEDIATE_CIPHERS, scan
from wizard.shell import Shell, code, script, sh

RERUN_MAIL = "run the mail step again"
TIMEOUT = 8.0
SMTP, SUBMISSION, IMAPS, IMAP = 25, 587, 993, 143
# Not ours, whatever the mail domain (a reserved name): a RCPT to it is a relay attempt.
FOREIGN_RECIPIENT = "vps-wizard-relay-check@example.com"
PROBE_SENDER = "vps-wizard-check@example.com"
DELIVERY_WAIT = 15
# Outbound levels that use TLS when offered or always; "none" and "" send in clear.
OUTBOUND_TLS_LEVELS = ("may", "encrypt", "dane", "dane-only", "verify", "secure", "fingerprint")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


# ----------------------------------------------------------------------------- mail.starttls


def judge_starttls(host: str, seen: Mapping[str, SmtpSeen]) -> CheckResult:
    """STARTTLS on 25; TLS 1.0 and 1.1 refused, 1.2 and 1.3 accepted; a forward-secret cipher
    on TLS 1.2. `seen` holds one STARTTLS conversation per version label of tls.VERSIONS."""
    cid = "mail.starttls"
    for label in WANTED:
        attempt = seen.get(label, SmtpSeen(SMTP, error="not tried"))
        if attempt.error:
            return fail(
                cid,
                f"no SMTP answer from {host} on port 25",
                f"{label}: {attempt.error}",
                "is Postfix running (sudo systemctl status postfix) and port 25 open in the "
                "firewall (apply the firewall step again)?",
            )
        if not attempt.offers("starttls"):
            return fail(
                cid,
                f"{host} does not offer STARTTLS on port 25",
                attempt.summary(),
                "Postfix needs smtpd_tls_security_level = may and a certificate "
                f"(smtpd_tls_cert_file): {RERUN_MAIL}",
            )
    tally = tally_versions({label: attempt.tls for label, attempt in seen.items()})
    tls12 = seen["TLS 1.2"].tls if "TLS 1.2" in seen else Handshake(error="not tried")
    if tls12.cipher and not tls12.cipher.startswith(("ECDHE", "DHE")):
        tally = dataclasses.replace(
            tally, wrong=(*tally.wrong, f"TLS 1.2 without forward secrecy ({tls12.cipher})")
        )
    return judge_tally(
        cid,
        f"{host} port 25",
        tally,
        "Postfix should allow TLS 1.2 and 1.3 only (smtpd_tls_protocols and "
        "smtpd_tls_mandatory_protocols = >=TLSv1.2) with ECDHE ciphers: "
        f"{RERUN_MAIL} to merge its settings into main.cf again",
        "STARTTLS, TLS 1.0/1.1 refused, 1.2/1.3 accepted",
    )


@check("mail.starttls")
def starttls_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """One STARTTLS conversation on port 25 per TLS version, each offered alone."""
    host, address = str(params["host"]), server_host(ctx.address)
    seen = {label: converse(address, host, SMTP, version) for label, version in VERSIONS.items()}
    return judge_starttls(host, seen)


# ----------------------------------------------------------------------------- mail.auth_after_tls


def judge_auth_after_tls(seen: Sequence[SmtpSeen]) -> CheckResult:
    """No port offers AUTH before STARTTLS (a password would cross the network in clear), and
    the submission port offers it once TLS is on (else mail programs cannot log in)."""
    cid = "mail.auth_after_tls"
    evidence = "\n".join(s.summary() for s in seen)
    silent = [s.port for s in seen if s.error]
    if silent:
        return fail(
            cid,
            f"no SMTP answer on port {', '.join(map(str, silent))}",
            evidence,
            "is Postfix running, with the submission service in master.cf, and are 25 and 587 "
            f"open in the firewall? {RERUN_MAIL}, then the firewall step",
        )
    early = [s.port for s in seen if s.offers("auth")]
    if early:
        return fail(
            cid,
            f"AUTH is offered before STARTTLS on port {', '.join(map(str, early))}",
            evidence,
            "passwords could be sent in clear: set smtpd_tls_auth_only = yes (and on 587 "
            f"-o smtpd_tls_security_level=encrypt in master.cf): {RERUN_MAIL}",
        )
    submission = next((s for s in seen if s.port == SUBMISSION), None)
    if submission is not None and not submission.offers("auth", after_tls=True):
        return fail(
            cid,
            "the submission port 587 does not offer AUTH after STARTTLS",
            evidence,
            "mail programs cannot log in: master.cf's submission entry needs "
            "-o smtpd_sasl_auth_enable=yes and Dovecot's auth socket in "
            f"/var/spool/postfix/private/auth: {RERUN_MAIL}",
        )
    return ok(cid, "AUTH only after STARTTLS, on the submission port", evidence)


@check("mail.auth_after_tls")
def auth_after_tls_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """EHLO on 25 and 587 before and after STARTTLS."""
    host, address = str(params["host"]), server_host(ctx.address)
    return judge_auth_after_tls([converse(address, host, port) for port in (SMTP, SUBMISSION)])


# ----------------------------------------------------------------------------- mail.submission_auth


def judge_submission_auth(seen: SmtpSeen) -> CheckResult:
    """On 587, after STARTTLS and without AUTH, the sender or every recipient is refused."""
    cid = "mail.submission_auth"
    evidence = seen.summary()
    if seen.error or not seen.tls.version:
        return fail(
            cid,
            "no TLS session on the submission port 587",
            evidence,
            "master.cf needs the submission entry (with smtpd_tls_security_level=encrypt) "
            f"and the firewall port 587: {RERUN_MAIL}, then the firewall step",
        )
    accepted = [command for command, reply in seen.replies if reply[:1] == "2"]
    sender_refused = any(
        reply[:1] in "45" for command, reply in seen.replies if command.startswith("MAIL FROM")
    )
    rcpts = [reply for command, reply in seen.replies if command.startswith("RCPT TO")]
    # One recipient taken without a login is enough: mail to your own users is still mail
    # sent in their name by anyone.
    if not sender_refused and (not rcpts or any(reply[:1] == "2" for reply in rcpts)):
        return fail(
            cid,
            "the submission port accepts mail without a login: "
            + ", ".join(c.split(":", 1)[0] for c in accepted),
            evidence,
            "anyone could send as your users: master.cf's submission entry needs "
            "-o smtpd_client_restrictions=permit_sasl_authenticated,reject and "
            f"-o smtpd_relay_restrictions=permit_sasl_authenticated,reject: {RERUN_MAIL}",
        )
    return ok(cid, "the submission port refuses mail until the client logs in", evidence)


@check("mail.submission_auth")
def submission_auth_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """MAIL FROM and RCPT TO (one of our addresses, then a foreign one) on 587 without AUTH."""
    host, domain = str(params["host"]), str(params["domain"])
    commands = (
        f"MAIL FROM:<{PROBE_SENDER}>",
        f"RCPT TO:<postmaster@{domain}>",
        f"RCPT TO:<{FOREIGN_RECIPIENT}>",
    )
    seen = converse(server_host(ctx.address), host, SUBMISSION, commands=commands)
    return judge_submission_auth(seen)


# ----------------------------------------------------------------------------- mail.imaps


@dataclass(frozen=True)
class ImapsSeen:
    """Port 993 with the default versions, with TLS 1.1 alone, its greeting, and port 143."""

    modern: Handshake
    old: Handshake
    greeting: str
    plain_port: str


def imaps_greeting(address: str, name: str) -> str:
    """The first line Dovecot sends over TLS on 993 ('* OK [CAPABILITY ...] Dovecot ready.')."""
    try:
        with (
            socket.create_connection((address, IMAPS), timeout=TIMEOUT) as raw,
            client_context().wrap_socket(raw, server_hostname=name) as tls,
        ):
            return tls.recv(4096).decode(errors="replace").splitlines()[0]
    except (OSError, IndexError) as error:
        return f"{type(error).__name__}: {error}"


def judge_imaps(host: str, seen: ImapsSeen, now: datetime.datetime) -> CheckResult:
    """993 answers IMAP over TLS 1.2+ with a certificate for the mail host name, valid now;
    TLS 1.1 is refused; plain IMAP on 143 does not answer."""
    cid = "mail.imaps"
    modern, old = seen.modern, seen.old
    lines = [f"TLS: {modern.error or f'{modern.version}, {modern.cipher}'}"]
    if modern.no_connection and not modern.nothing_listens:
        return fail(cid, f"{host}: port 993 {CLOSED_PORT}", "\n".join(lines), CLOSED_HINT)
    if modern.error:
        return fail(
            cid,
            f"no IMAP over TLS on {host} port 993",
            "\n".join(lines),
            "is Dovecot running (sudo systemctl status dovecot; sudo journalctl -u dovecot -n "
            f"20 says why not) and 993 open in the firewall? {RERUN_MAIL}",
        )
    info = cert_info(modern.leaf)
    days = (info.not_after - now).total_seconds() / 86400
    lines += [
        f"certificate: {info.subject}, names {', '.join(info.names) or '(none)'}, "
        f"expires {info.not_after:%Y-%m-%d} ({days:.0f} days)",
        f"TLS 1.1 alone: {'refused' if old.error else f'accepted ({old.version})'}"
        + (" (this machine cannot offer it)" if old.local else ""),
        f"greeting: {seen.greeting}",
        f"port 143: {seen.plain_port}",
    ]
    evidence = "\n".join(lines)
    problems, hints = [], []
    if not name_matches(host, info.names):
        problems.append(f"the certificate does not cover {host}")
        hints.append(
            f"Dovecot's ssl_cert must be /etc/ssl/vps-wizard/{host}/fullchain.pem, made for "
            f"that name: {RERUN_MAIL}"
        )
    if days < 0:
        problems.append("the certificate has expired")
        hints.append(f"install a new certificate, then {RERUN_MAIL}")
    if modern.version not in ("TLSv1.2", "TLSv1.3"):
        problems.append(f"{modern.version} negotiated")
    if not old.error and not old.local:
        problems.append("TLS 1.1 accepted")
    if modern.version not in ("TLSv1.2", "TLSv1.3") or (not old.error and not old.local):
        hints.append(f"Dovecot needs ssl_min_protocol = TLSv1.2: {RERUN_MAIL}")
    if not seen.greeting.startswith("* OK"):
        problems.append("no IMAP greeting over TLS")
        hints.append("see sudo journalctl -u dovecot -n 20")
    if seen.plain_port == "open":
        problems.append("plain IMAP answers on port 143")
        hints.append(
            "close it: port = 0 in the imap inet_listener, and 143 out of the firewall's "
            f"extra ports: {RERUN_MAIL}"
        )
    if problems:
        return fail(cid, f"{host} port 993: " + "; ".join(problems), evidence, "; ".join(hints))
    return ok(cid, f"IMAP over {modern.version} on 993 with a certificate for {host}", evidence)


@check("mail.imaps")
def imaps_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Handshakes on 993, the IMAP greeting, and a connection attempt on 143, all at once:
    the check takes as long as 143's silence, not the sum."""
    host, address = str(params["host"]), server_host(ctx.address)

    def plain_port() -> str:
        wait = silence_wait(address, ctx.reach_port(), 2.0)
        return probe_tcp(address, IMAP, wait, SILENT_TRIES)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        modern = pool.submit(handshake, address, host, IMAPS)
        old = pool.submit(handshake, address, host, IMAPS, version=ssl.TLSVersion.TLSv1_1)
        greeting = pool.submit(imaps_greeting, address, host)
        plain = pool.submit(plain_port)
        seen = ImapsSeen(modern.result(), old.result(), greeting.result(), plain.result())
    return judge_imaps(host, seen, datetime.datetime.now(datetime.UTC))


# ----------------------------------------------------------------------------- mail.tls_profile

TLS_PORTS = (SMTP, SUBMISSION, IMAPS)
TLS_PROFILE_HINT = (
    "Postfix: smtpd_tls_protocols and smtpd_tls_mandatory_protocols = >=TLSv1.2, "
    f"smtpd_tls_ciphers = high with tls_high_cipherlist = {INTERMEDIATE_CIPHERS}, "
    "tls_eecdh_auto_curves = X25519 prime256v1 secp384r1; Dovecot: ssl_min_protocol, "
    f"ssl_cipher_list and ssl_curve_list in conf.d/99-vps-wizard.conf: {RERUN_MAIL} to put "
    "them back"
)


@check("mail.tls_profile")
def tls_profile_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Find every version, suite and group 25 and 587 (after STARTTLS) and 993 take
    (probes.tlsscan)."""
    host, address = str(params["host"]), server_host(ctx.address)
    openers = {
        SMTP: starttls_opener(address, SMTP),
        SUBMISSION: starttls_opener(address, SUBMISSION),
        IMAPS: plain_opener(address, IMAPS),
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(openers)) as pool:
        futures = {port: pool.submit(scan, opener, host) for port, opener in openers.items()}
        ports = {port: future.result() for port, future in futures.items()}
    return judge_profiles("mail.tls_profile", host, ports, TLS_PROFILE_HINT)


# ----------------------------------------------------------------------------- mail.banner


def judge_banner(host: str, greetings: Mapping[int, str]) -> CheckResult:
    """The SMTP greeting on each port is the host name and ESMTP, nothing more: no software
    name or version, no operating system."""
    cid = "mail.banner"
    evidence = "\n".join(f"port {port}: 220 {text}" for port, text in greetings.items())
    silent = [port for port, text in greetings.items() if text.startswith("@@ ")]
    if silent:
        return fail(
            cid,
            f"no SMTP greeting on port {', '.join(map(str, silent))}",
            evidence.replace("220 @@ ", ""),
            "is Postfix running and the port open in the firewall? "
            f"{RERUN_MAIL}, then the firewall step",
        )
    telling = {}
    for port, text in greetings.items():
        words = text.split()
        extra = [w for w in words[1:] if w.upper() != "ESMTP"]
        if extra:
            telling[port] = " ".join(extra)
    if telling:
        said = "; ".join(f"port {port}: {extra!r}" for port, extra in telling.items())
        return fail(
            cid,
            f"the SMTP greeting says more than the host name: {said}",
            evidence,
            f"software and system names help an attacker pick an exploit: smtpd_banner = "
            f"$myhostname ESMTP ({RERUN_MAIL})",
        )
    return ok(cid, f"the SMTP greeting names only {host}", evidence)


@check("mail.banner")
def banner_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The greeting of ports 25 and 587."""
    address = server_host(ctx.address)
    return judge_banner(
        str(params["host"]), {port: greeting_of(address, port) for port in (SMTP, SUBMISSION)}
    )


# ----------------------------------------------------------------------------- mail.no_open_relay


def judge_no_open_relay(seen: SmtpSeen, loopback: bool) -> CheckResult:
    """From outside, without AUTH, a RCPT to a domain that is not ours is refused for good."""
    cid = "mail.no_open_relay"
    evidence = seen.summary()
    if loopback:
        return warn(
            cid,
            "not tried: the wizard reaches the server through a local forward",
            evidence,
            "Postfix trusts local clients (mynetworks): run verify from a machine that reaches "
            "the server's own address",
        )
    rcpt = next((reply for command, reply in seen.replies if command.startswith("RCPT")), "")
    if seen.error or not rcpt:
        return fail(
            cid,
            "could not try a relay on port 25",
            evidence,
            "is Postfix running (sudo journalctl -u postfix@- -n 20 shows why smtpd stops) and "
            "port 25 open in the firewall? Apply the firewall step again",
        )
    if rcpt.startswith("2"):
        return fail(
            cid,
            "OPEN RELAY: port 25 accepts mail for other domains without a login",
            evidence,
            "spammers will use this server within hours: mynetworks must be loopback only "
            "(127.0.0.0/8 [::1]/128) and smtpd_relay_restrictions = permit_mynetworks, "
            "permit_sasl_authenticated, reject_unauth_destination (sudo postconf -e ... && "
            f"sudo postfix reload), or {RERUN_MAIL}",
        )
    if rcpt.startswith("4"):
        return warn(
            cid,
            "relaying is refused, but only for now (4xx): senders will retry",
            evidence,
            f"use reject_unauth_destination, not defer_unauth_destination: {RERUN_MAIL}",
        )
    return ok(cid, "port 25 refuses to relay to other domains without a login", evidence)


@check("mail.no_open_relay")
def no_open_relay_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """MAIL FROM and RCPT TO a foreign address on 25 (after STARTTLS, as servers do)."""
    host, address = str(params["host"]), server_host(ctx.address)
    commands = (f"MAIL FROM:<{PROBE_SENDER}>", f"RCPT TO:<{FOREIGN_RECIPIENT}>")
    seen = converse(address, host, SMTP, commands=commands)
    return judge_no_open_relay(seen, is_loopback(address))


def is_loopback(address: str) -> bool:
    """Whether the address (or what the name resolves to) is this machine."""
    try:
        infos = socket.getaddrinfo(address, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return any(str(info[4][0]).startswith(("127.", "::1")) for info in infos)


# ----------------------------------------------------------------------------- mail.delivery


def delivery_script(maildir: str, token: str) -> Shell:
    """Wait up to DELIVERY_WAIT seconds for the message with `token` in the Maildir, then
    print where it landed and remove it (a verify must not fill the mailbox)."""
    return script(
        marker("FOUND"),
        # Only the messages (new/ and cur/): Dovecot's index files hold the headers too.
        sh(
            "i=0; while [ $i -lt {tries} ]; do\n"
            "  f=$(grep -rlF -- {token} {new} {cur} 2>/dev/null | head -n 1)\n"
            '  if [ -n "$f" ]; then echo "$f"; stat -c "%U %a" "$f"; rm -f "$f"; break; fi\n'
            "  sleep 0.5; i=$((i + 1))\n"
            "done",
            tries=DELIVERY_WAIT * 2,
            token=token,
            new=f"{maildir}/new",
            cur=f"{maildir}/cur",
        ),
        marker("QUEUE"),
        sh("mailq 2>&1 | grep -F -A 3 -- {prefix} | head -n 8", prefix=token[:10]),
        marker("LOG"),
        code(
            "journalctl -u postfix@- -u postfix -u dovecot --since '-2min' --no-pager 2>/dev/null"
            " | grep -E 'lmtp|status=|reject' | tail -n 4"
        ),
        code("true"),
    )


def judge_delivery(address: str, sent: str, found: str, queue: str, log: str) -> CheckResult:
    """The message sent on port 25 landed in the mailbox's Maildir, owned by vmail."""
    cid = "mail.delivery"
    evidence = f"sent to {address} on port 25: {sent}\nfound: {found or 'nothing'}"
    if queue.strip():
        evidence += f"\nqueue: {queue.strip()}"
    if log.strip():
        evidence += f"\nlog: {log.strip()}"
    if not sent.startswith("250"):
        return fail(
            cid,
            f"port 25 did not take a message for {address}",
            evidence,
            f"the mailbox must be in /etc/postfix/vps-wizard/vmailbox and the domain in "
            f"virtual_mailbox_domains: {RERUN_MAIL}",
        )
    if not found:
        return fail(
            cid,
            f"the message for {address} did not arrive within {DELIVERY_WAIT} s",
            evidence,
            "Postfix hands mail to Dovecot's LMTP socket (private/dovecot-lmtp): is Dovecot "
            "running? sudo journalctl -u postfix -u dovecot -n 30 shows the delivery error",
        )
    return ok(cid, f"a message sent to {address} on port 25 arrived in its Maildir", evidence)


@check("mail.delivery")
def delivery_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Send one message over 25 with a unique Message-ID, then find it on the server."""
    host, domain, mailbox = str(params["host"]), str(params["domain"]), str(params["mailbox"])
    recipient = f"{mailbox}@{domain}"
    token = f"vps-wizard-check-{uuid.uuid4().hex}"
    message = EmailMessage()
    message["From"] = PROBE_SENDER
    message["To"] = recipient
    message["Subject"] = f"vps-wizard delivery check {token}"
    message["Message-ID"] = f"<{token}@{HELO}>"
    message.set_content("Sent by vps-wizard's mail.delivery check; removed once found.\n")
    address = server_host(ctx.address)
    try:
        with smtp_session(address, SMTP) as client:
            code, reply = start_tls(client, client_context(), host)
            if code != 220:
                raise smtplib.SMTPResponseException(code, reply)
            client.ehlo()
            refused = client.send_message(message, PROBE_SENDER, [recipient])
            sent = "250 queued" if not refused else f"refused: {refused}"
    except smtplib.SMTPResponseException as error:
        sent = reply_text(error.smtp_code, error.smtp_error)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
        sent = f"{type(error).__name__}: {error}"
    if not sent.startswith("250"):
        return judge_delivery(recipient, sent, "", "", "")
    sections = run_sections(ctx, delivery_script(f"/var/mail/vhosts/{domain}/{mailbox}", token))
    return judge_delivery(
        recipient,
        sent,
        sections.get("FOUND", "").replace("\n", ", "),
        sections.get("QUEUE", ""),
        sections.get("LOG", "") if not sections.get("FOUND") else "",
    )


# ----------------------------------------------------------------------------- mail.outbound_tls

OUTBOUND_SCRIPT = script(
    marker("POSTCONF"),
    code(
        "postconf smtp_tls_security_level smtp_tls_CAfile smtp_tls_CApath "
        "smtp_dns_support_level 2>&1"
    ),
    code("rc=$?"),
    marker("RC"),
    code('echo "$rc"'),
    marker("CAFILE"),
    code(
        'f=$(postconf -h smtp_tls_CAfile 2>/dev/null); if [ -z "$f" ]; then echo unset; '
        'elif [ -s "$f" ]; then echo "present $(grep -c "BEGIN CERTIFICATE" "$f") certificates";'
        " else echo missing; fi"
    ),
)


def parse_postconf(text: str) -> dict[str, str]:
    """`name = value` lines of postconf, as a dict."""
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            values[name.strip()] = value.strip()
        elif line.rstrip().endswith(" ="):
            values[line.rstrip()[:-2].strip()] = ""
    return values


def judge_outbound_tls(postconf: str, rc: int, cafile: str) -> CheckResult:
    """Outbound mail uses TLS when offered and can verify the peer: smtp_tls_CAfile names an
    existing CA bundle (read before Postfix's chroot, unlike CApath), or DANE with DNSSEC."""
    cid = "mail.outbound_tls"
    evidence = f"{postconf.strip()}\nCA file: {cafile.strip() or '(unknown)'}"
    if rc != 0:
        return fail(cid, "postconf did not answer", evidence, f"is Postfix installed? {RERUN_MAIL}")
    values = parse_postconf(postconf)
    level = values.get("smtp_tls_security_level", "")
    dane = level in ("dane", "dane-only") and values.get("smtp_dns_support_level") == "dnssec"
    if level not in OUTBOUND_TLS_LEVELS:
        return fail(
            cid,
            f"outbound mail is sent in clear (smtp_tls_security_level = {level or 'empty'})",
            evidence,
            f"set smtp_tls_security_level = may (or dane with a validating resolver): {RERUN_MAIL}",
        )
    if not dane and not cafile.strip().startswith("present"):
        return fail(
            cid,
            "outbound TLS cannot verify other servers: smtp_tls_CAfile is "
            + ("not set" if cafile.strip() == "unset" else "not a CA bundle"),
            evidence,
            f"the log will say 'Untrusted TLS connection': set smtp_tls_CAfile = {CA_BUNDLE} "
            "(CApath does not work inside Postfix's chroot), then sudo postfix reload, or "
            f"{RERUN_MAIL}",
        )
    how = "DANE (DNSSEC)" if dane else f"CA bundle {values.get('smtp_tls_CAfile', '')}"
    return ok(cid, f"outbound TLS ({level}) verified against the {how}", evidence)


@check("mail.outbound_tls")
def outbound_tls_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """On the server: postconf's outbound TLS settings and the CA file they name."""
    sections = run_sections(ctx, OUTBOUND_SCRIPT)
    return judge_outbound_tls(
        sections.get("POSTCONF", ""), exit_code(sections.get("RC", "")), sections.get("CAFILE", "")
    )
