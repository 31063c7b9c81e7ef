"""SMTP from the outside: the greeting, EHLO, STARTTLS with the name as SNI, and raw commands
(never DATA); and a raw-socket dialog up to STARTTLS for the TLS scanner."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from wizard.probes.tls import Handshake, client_context, refused_handshake
from wizard.probes.tlsscan import Opener, ProbeError

TIMEOUT = 8.0
HELO = "vps-wizard-check.invalid"
REPLY_LIMIT = 65536


@dataclass(frozen=True)
class SmtpSeen:
    """One SMTP conversation: the EHLO keywords before and after STARTTLS, the handshake, and
    the replies to the commands that were tried (like 'RCPT TO:<x>': '554 5.7.1 ...')."""

    port: int
    error: str = ""
    before: Mapping[str, str] = field(default_factory=dict)
    tls: Handshake = field(default_factory=lambda: Handshake(error="not tried"))
    after: Mapping[str, str] = field(default_factory=dict)
    replies: tuple[tuple[str, str], ...] = ()

    def offers(self, keyword: str, after_tls: bool = False) -> bool:
        """Whether EHLO listed the keyword (lower case, as smtplib keeps them)."""
        return keyword in (self.after if after_tls else self.before)

    def summary(self) -> str:
        """The conversation as evidence lines."""
        if self.error:
            return f"port {self.port}: {self.error}"
        lines = [f"port {self.port}: EHLO before TLS: {features_text(self.before)}"]
        if self.tls.error:
            lines.append(f"  STARTTLS: {self.tls.error}")
        elif self.tls.version:
            lines.append(f"  STARTTLS: {self.tls.version}, {self.tls.cipher}")
            lines.append(f"  EHLO after TLS: {features_text(self.after)}")
        lines += [f"  {command}: {reply}" for command, reply in self.replies]
        return "\n".join(lines)


def features_text(features: Mapping[str, str]) -> str:
    """EHLO keywords as one line: 'STARTTLS, AUTH PLAIN LOGIN, SIZE 26214400'."""
    if not features:
        return "(none)"
    return ", ".join(f"{k.upper()} {v.strip()}".strip() for k, v in features.items())


def reply_text(code: int, message: bytes | str) -> str:
    """'554 5.7.1 <x>: Relay access denied' from smtplib's (code, message)."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


@contextlib.contextmanager
def smtp_session(address: str, port: int) -> Iterator[smtplib.SMTP]:
    """An SMTP connection after EHLO, closed (QUIT, or dropped) on the way out."""
    client = smtplib.SMTP(address, port, local_hostname=HELO, timeout=TIMEOUT)
    try:
        client.ehlo()
        yield client
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()


def converse(
    address: str,
    name: str,
    port: int,
    version: ssl.TLSVersion | None = None,
    commands: Sequence[str] = (),
) -> SmtpSeen:
    """EHLO, STARTTLS (only `version` offered, when given), EHLO, then each raw command while
    the server accepts them (MAIL FROM, RCPT TO: never DATA)."""
    try:
        context = client_context(version)
    except (ssl.SSLError, ValueError) as error:
        return SmtpSeen(port, tls=Handshake(error=str(error), local=True))
    try:
        with smtp_session(address, port) as client:
            before = dict(client.esmtp_features)
            if "starttls" not in before:
                return SmtpSeen(port, before=before, tls=Handshake(error="STARTTLS not offered"))
            try:
                code, message = start_tls(client, context, name)
            except ssl.SSLError as error:
                return SmtpSeen(port, before=before, tls=refused_handshake(error))
            if code != 220:
                tls = Handshake(error=reply_text(code, message), refused_by_server=True)
                return SmtpSeen(port, before=before, tls=tls)
            sock = client.sock
            assert isinstance(sock, ssl.SSLSocket)
            cipher = sock.cipher()
            tls = Handshake(
                version=sock.version() or "",
                cipher=cipher[0] if cipher else "",
                leaf=sock.getpeercert(binary_form=True) or b"",
            )
            client.ehlo()
            after = dict(client.esmtp_features)
            replies = []
            for command in commands:
                code, message = client.docmd(command)
                replies.append((command, reply_text(code, message)))
                if code >= 400:
                    break
            return SmtpSeen(port, before=before, tls=tls, after=after, replies=tuple(replies))
    except (smtplib.SMTPException, OSError) as error:
        return SmtpSeen(port, error=f"{type(error).__name__}: {error}")


def start_tls(client: smtplib.SMTP, context: ssl.SSLContext, name: str) -> tuple[int, bytes]:
    """STARTTLS with `name` as SNI (smtplib's own starttls sends the address it connected to),
    then forget the EHLO answers as RFC 3207 says; SSLError when the handshake fails."""
    code, message = client.docmd("STARTTLS")
    if code == 220:
        assert client.sock is not None  # docmd answered on it
        client.sock = context.wrap_socket(client.sock, server_hostname=name)
        client.file = None
        client.helo_resp = client.ehlo_resp = None
        client.esmtp_features = {}
        client.does_esmtp = False
    return code, message


def read_reply(sock: socket.socket) -> str:
    """One SMTP reply, every line of it ('250-...' up to '250 ...'), read from a raw socket
    without reading past it (the TLS handshake follows on the same socket)."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise ProbeError(f"closed after {data.decode(errors='replace').strip()!r}")
        data += chunk
        lines = data.split(b"\r\n")
        complete = [line for line in lines[:-1] if line]
        if complete and len(complete[-1]) >= 4 and complete[-1][3:4] == b" ":
            return data.decode(errors="replace")
        if len(data) > REPLY_LIMIT:
            raise ProbeError("an SMTP reply without end")


def starttls_opener(address: str, port: int) -> Opener:
    """Connections for a scan of an SMTP port: greeting, EHLO, STARTTLS, then the socket for
    the ClientHello."""

    def open_connection() -> socket.socket:
        sock = socket.create_connection((address, port), timeout=TIMEOUT)
        try:
            greeting = read_reply(sock)
            if not greeting.startswith("220"):
                raise ProbeError(f"greeting {greeting.strip()!r}")
            sock.sendall(f"EHLO {HELO}\r\n".encode())
            features = read_reply(sock)
            if "STARTTLS" not in features.upper():
                raise ProbeError("STARTTLS not offered")
            sock.sendall(b"STARTTLS\r\n")
            ready = read_reply(sock)
            if not ready.startswith("220"):
                raise ProbeError(f"STARTTLS answered {ready.strip()!r}")
            return sock
        except BaseException:
            sock.close()
            raise

    return open_connection


def greeting_of(address: str, port: int) -> str:
    """The server's greeting on an SMTP port (every line), or why none came (led by '@@ ')."""
    try:
        with socket.create_connection((address, port), timeout=TIMEOUT) as sock:
            text = read_reply(sock)
            with contextlib.suppress(OSError):
                sock.sendall(b"QUIT\r\n")
            return " ".join(line[4:].strip() for line in text.splitlines() if line.strip())
    except (OSError, ProbeError) as error:
        return f"@@ {type(error).__name__}: {error}"
