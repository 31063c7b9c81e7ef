"""What a TLS server accepts, enumerated from the outside, and Mozilla's "intermediate" profile
to judge it against.

Each probe is a hand-made ClientHello that offers one protocol version, one TLS 1.3 suite or
one TLS 1.2 curve, or the TLS 1.2 suites or TLS 1.3 groups not yet taken (see `taken`), sent
on a fresh connection; the server's first answer (ServerHello, a
HelloRetryRequest, the TLS 1.2 ServerKeyExchange, or an alert) says what it took. The handshake
is never finished: nothing is encrypted, so the local OpenSSL's own limits (security level,
suites it was built without) do not hide what the server would accept. The connection is opened
by an `Opener`: plain TCP for HTTPS and IMAPS, the SMTP dialog up to STARTTLS for ports 25 and
587.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Opener = Callable[[], socket.socket]

TIMEOUT = 4.0
PARALLEL = 8
READ_LIMIT = 131072
HELLO_RETRY = hashlib.sha256(b"HelloRetryRequest").digest()

VERSIONS = {"SSL 3.0": 0x0300, "TLS 1.0": 0x0301, "TLS 1.1": 0x0302, "TLS 1.2": 0x0303}
TLS13 = 0x0304

# TLS 1.3 suites (IANA code: name, as Python's ssl and OpenSSL name them).
SUITES13 = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
}

# TLS 1.2 and older suites, broad on purpose: every family a server may still enable (CBC,
# CCM, ARIA, CAMELLIA, SEED, 3DES, RC4, NULL, anonymous, export, static RSA key exchange).
SUITES12 = {
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256",
    0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384",
    0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305",
    0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC030: "ECDHE-RSA-AES256-GCM-SHA384",
    0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305",
    0x009E: "DHE-RSA-AES128-GCM-SHA256",
    0x009F: "DHE-RSA-AES256-GCM-SHA384",
    0xCCAA: "DHE-RSA-CHACHA20-POLY1305",
    0xC023: "ECDHE-ECDSA-AES128-SHA256",
    0xC024: "ECDHE-ECDSA-AES256-SHA384",
    0xC009: "ECDHE-ECDSA-AES128-SHA",
    0xC00A: "ECDHE-ECDSA-AES256-SHA",
    0xC0AC: "ECDHE-ECDSA-AES128-CCM",
    0xC0AD: "ECDHE-ECDSA-AES256-CCM",
    0xC0AE: "ECDHE-ECDSA-AES128-CCM8",
    0xC0AF: "ECDHE-ECDSA-AES256-CCM8",
    0xC05C: "ECDHE-ECDSA-ARIA128-GCM-SHA256",
    0xC05D: "ECDHE-ECDSA-ARIA256-GCM-SHA384",
    0xC072: "ECDHE-ECDSA-CAMELLIA128-SHA256",
    0xC073: "ECDHE-ECDSA-CAMELLIA256-SHA384",
    0xC086: "ECDHE-ECDSA-CAMELLIA128-GCM-SHA256",
    0xC087: "ECDHE-ECDSA-CAMELLIA256-GCM-SHA384",
    0xC008: "ECDHE-ECDSA-DES-CBC3-SHA",
    0xC007: "ECDHE-ECDSA-RC4-SHA",
    0xC006: "ECDHE-ECDSA-NULL-SHA",
    0xC027: "ECDHE-RSA-AES128-SHA256",
    0xC028: "ECDHE-RSA-AES256-SHA384",
    0xC013: "ECDHE-RSA-AES128-SHA",
    0xC014: "ECDHE-RSA-AES256-SHA",
    0xC060: "ECDHE-ARIA128-GCM-SHA256",
    0xC061: "ECDHE-ARIA256-GCM-SHA384",
    0xC076: "ECDHE-RSA-CAMELLIA128-SHA256",
    0xC077: "ECDHE-RSA-CAMELLIA256-SHA384",
    0xC012: "ECDHE-RSA-DES-CBC3-SHA",
    0xC011: "ECDHE-RSA-RC4-SHA",
    0xC010: "ECDHE-RSA-NULL-SHA",
    0x0067: "DHE-RSA-AES128-SHA256",
    0x006B: "DHE-RSA-AES256-SHA256",
    0x0033: "DHE-RSA-AES128-SHA",
    0x0039: "DHE-RSA-AES256-SHA",
    0xC09E: "DHE-RSA-AES128-CCM",
    0xC09F: "DHE-RSA-AES256-CCM",
    0xC0A2: "DHE-RSA-AES128-CCM8",
    0xC0A3: "DHE-RSA-AES256-CCM8",
    0xC052: "DHE-RSA-ARIA128-GCM-SHA256",
    0xC053: "DHE-RSA-ARIA256-GCM-SHA384",
    0x0045: "DHE-RSA-CAMELLIA128-SHA",
    0x0088: "DHE-RSA-CAMELLIA256-SHA",
    0x00BE: "DHE-RSA-CAMELLIA128-SHA256",
    0x00C4: "DHE-RSA-CAMELLIA256-SHA256",
    0x009A: "DHE-RSA-SEED-SHA",
    0x0016: "EDH-RSA-DES-CBC3-SHA",
    0x00A2: "DHE-DSS-AES128-GCM-SHA256",
    0x00A3: "DHE-DSS-AES256-GCM-SHA384",
    0x0032: "DHE-DSS-AES128-SHA",
    0x0038: "DHE-DSS-AES256-SHA",
    0x009C: "AES128-GCM-SHA256",
    0x009D: "AES256-GCM-SHA384",
    0x003C: "AES128-SHA256",
    0x003D: "AES256-SHA256",
    0x002F: "AES128-SHA",
    0x0035: "AES256-SHA",
    0xC09C: "AES128-CCM",
    0xC09D: "AES256-CCM",
    0xC0A0: "AES128-CCM8",
    0xC0A1: "AES256-CCM8",
    0xC050: "ARIA128-GCM-SHA256",
    0xC051: "ARIA256-GCM-SHA384",
    0x0041: "CAMELLIA128-SHA",
    0x0084: "CAMELLIA256-SHA",
    0x00BA: "CAMELLIA128-SHA256",
    0x00C0: "CAMELLIA256-SHA256",
    0x0096: "SEED-SHA",
    0x0007: "IDEA-CBC-SHA",
    0x000A: "DES-CBC3-SHA",
    0x0009: "DES-CBC-SHA",
    0x0005: "RC4-SHA",
    0x0004: "RC4-MD5",
    0x003B: "NULL-SHA256",
    0x0002: "NULL-SHA",
    0x0001: "NULL-MD5",
    0x0003: "EXP-RC4-MD5",
    0x0008: "EXP-DES-CBC-SHA",
    0x0014: "EXP-EDH-RSA-DES-CBC-SHA",
    0xC018: "AECDH-AES128-SHA",
    0xC019: "AECDH-AES256-SHA",
    0x0034: "ADH-AES128-SHA",
    0x00A6: "ADH-AES128-GCM-SHA256",
    0x0018: "ADH-RC4-MD5",
    0xC004: "ECDH-ECDSA-AES128-SHA",
    0xC00E: "ECDH-RSA-AES128-SHA",
}

# Key exchange groups (TLS 1.3 key shares; TLS 1.2 ECDHE curves for the elliptic ones).
GROUPS = {
    0x001D: "X25519",
    0x0017: "P-256",
    0x0018: "P-384",
    0x0019: "P-521",
    0x001E: "X448",
    0x0015: "P-224",
    0x0016: "secp256k1",
    0x001A: "brainpoolP256r1",
    0x001B: "brainpoolP384r1",
    0x001C: "brainpoolP512r1",
    0x001F: "brainpoolP256r1tls13",
    0x0020: "brainpoolP384r1tls13",
    0x0021: "brainpoolP512r1tls13",
    0x0100: "ffdhe2048",
    0x0101: "ffdhe3072",
    0x0102: "ffdhe4096",
    0x0103: "ffdhe6144",
    0x0104: "ffdhe8192",
    0x11EC: "X25519MLKEM768",
    0x6399: "X25519Kyber768Draft00",
}
ELLIPTIC = tuple(code for code in GROUPS if code < 0x0100)
# The groups a TLS 1.2 suite is offered with: every curve, and ffdhe2048 and ffdhe3072 for the
# DHE suites.
SUITES12_GROUPS = (*ELLIPTIC, 0x0100, 0x0101)

# Mozilla's "intermediate" configuration (version 5.7): TLS 1.2 and 1.3; on TLS 1.2 the ECDHE
# and DHE suites with AES-GCM or ChaCha20-Poly1305 (DHE optional); every TLS 1.3 suite but the
# CCM ones; groups X25519, P-256 and P-384.
PROFILE_VERSIONS = ("TLS 1.2", "TLS 1.3")
PROFILE_SUITES12 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
)
PROFILE_SUITES13 = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
)
PROFILE_GROUPS = ("X25519", "P-256", "P-384")
# The OpenSSL cipher string of the ECDHE part, as the templates write it.
INTERMEDIATE_CIPHERS = ":".join(PROFILE_SUITES12[:6])

SIGNATURE_ALGORITHMS = (
    0x0403,
    0x0503,
    0x0603,
    0x0804,
    0x0805,
    0x0806,
    0x0807,
    0x0808,
    0x0401,
    0x0501,
    0x0601,
    0x0203,
    0x0201,
    0x0402,
    0x0202,
)


class ProbeError(Exception):
    """The connection could not be brought to the point of a ClientHello (no STARTTLS, a
    refused port): says nothing about TLS."""


# ----------------------------------------------------------------------------- ClientHello


def _vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(
    name: str,
    suites: Sequence[int],
    groups: Sequence[int],
    version: int = VERSIONS["TLS 1.2"],
    tls13: bool = False,
) -> bytes:
    """One TLS record holding a ClientHello.

    `version` is the legacy version field (what a pre-1.3 server negotiates); with `tls13`
    the supported_versions extension offers TLS 1.3 alone, with an empty key_share so that a
    server taking one of `groups` names it in a HelloRetryRequest. Suites are offered in order.
    """
    extensions = []
    if name and not name.replace(".", "").isdigit() and ":" not in name:
        host = name.encode("idna")
        extensions.append(_extension(0, _vector(b"\x00" + _vector(host, 2), 2)))
    extensions.append(_extension(10, _vector(b"".join(struct.pack("!H", g) for g in groups), 2)))
    extensions.append(_extension(11, b"\x01\x00"))
    signatures = b"".join(struct.pack("!H", s) for s in SIGNATURE_ALGORITHMS)
    extensions.append(_extension(13, _vector(signatures, 2)))
    extensions.append(_extension(23, b""))
    extensions.append(_extension(0xFF01, b"\x00"))
    if tls13:
        extensions.append(_extension(43, _vector(struct.pack("!H", TLS13), 1)))
        extensions.append(_extension(45, b"\x01\x01"))
        extensions.append(_extension(51, _vector(b"", 2)))
    body = (
        struct.pack("!H", version)
        + os.urandom(32)
        + _vector(os.urandom(32), 1)
        + _vector(b"".join(struct.pack("!H", s) for s in suites), 2)
        + b"\x01\x00"
        + _vector(b"".join(extensions), 2)
    )
    handshake = b"\x01" + _vector(body, 3)
    return struct.pack("!BHH", 22, min(version, 0x0301), len(handshake)) + handshake


# ----------------------------------------------------------------------------- the answer


@dataclass(frozen=True)
class ServerAnswer:
    """What the server answered a ClientHello with.

    `accepted` is True for a ServerHello or HelloRetryRequest; `version` its negotiated
    version code, `suite` its suite code, `group` the group it named (TLS 1.3 key share or
    HelloRetryRequest, TLS 1.2 ServerKeyExchange), 0 when none. `alert` is the alert's
    description code when the server refused with one; `error` says what else happened.
    """

    accepted: bool = False
    version: int = 0
    suite: int = 0
    group: int = 0
    retry: bool = False
    alert: int = -1
    error: str = ""


def _read_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_answer(sock: socket.socket) -> ServerAnswer:
    """Read records until the ServerHello (and, before TLS 1.3, the ServerKeyExchange or
    ServerHelloDone) or an alert."""
    buffer = b""
    hello: ServerAnswer | None = None
    received = 0
    try:
        while received < READ_LIMIT:
            kind, _, length = struct.unpack("!BHH", _read_exact(sock, 5))
            fragment = _read_exact(sock, length)
            received += 5 + length
            if kind == 21:
                if hello is not None:
                    return hello
                return ServerAnswer(alert=fragment[1] if len(fragment) > 1 else 0)
            if kind == 20:
                continue
            if kind != 22:
                return hello or ServerAnswer(error=f"unexpected record type {kind}")
            buffer += fragment
            while len(buffer) >= 4:
                size = int.from_bytes(buffer[1:4], "big")
                if len(buffer) < 4 + size:
                    break
                message_type, message = buffer[0], buffer[4 : 4 + size]
                buffer = buffer[4 + size :]
                if message_type == 2:
                    hello = parse_server_hello(message)
                    if hello.retry or hello.version == TLS13:
                        return hello
                elif hello is not None and message_type == 12:
                    group = int.from_bytes(message[1:3], "big") if message[:1] == b"\x03" else 0
                    return ServerAnswer(True, hello.version, hello.suite, group)
                elif hello is not None and message_type == 14:
                    return hello
        return hello or ServerAnswer(error="no ServerHello")
    except (OSError, ConnectionError, struct.error) as error:
        if hello is not None:
            return hello
        return ServerAnswer(error=f"{type(error).__name__}: {error}".rstrip(": "))


def parse_server_hello(message: bytes) -> ServerAnswer:
    """The version, suite and group of a ServerHello or HelloRetryRequest body."""
    legacy, random = int.from_bytes(message[:2], "big"), message[2:34]
    at = 34
    session = message[at]
    at += 1 + session
    suite = int.from_bytes(message[at : at + 2], "big")
    at += 3
    version, group = legacy, 0
    if at + 2 <= len(message):
        end = at + 2 + int.from_bytes(message[at : at + 2], "big")
        at += 2
        while at + 4 <= end:
            kind, size = struct.unpack("!HH", message[at : at + 4])
            body = message[at + 4 : at + 4 + size]
            if kind == 43 and size == 2:
                version = int.from_bytes(body, "big")
            elif kind == 51 and size >= 2:
                group = int.from_bytes(body[:2], "big")
            at += 4 + size
    return ServerAnswer(True, version, suite, group, retry=random == HELLO_RETRY)


def offer(opener: Opener, hello: bytes) -> ServerAnswer:
    """Open a connection, send one ClientHello, read the answer, close."""
    try:
        sock = opener()
    except ProbeError as error:
        return ServerAnswer(error=f"ProbeError: {error}")
    except OSError as error:
        return ServerAnswer(error=f"ProbeError: {type(error).__name__}: {error}")
    try:
        sock.settimeout(TIMEOUT)
        sock.sendall(hello)
        return read_answer(sock)
    except OSError as error:
        return ServerAnswer(error=f"{type(error).__name__}: {error}")
    finally:
        sock.close()


# ----------------------------------------------------------------------------- the scan


@dataclass(frozen=True)
class Accepted:
    """What one port accepted (what offering each item alone would find); `errors` lists
    probes that got no answer at all (a timeout, a refused connection), which prove nothing
    either way."""

    versions: tuple[str, ...] = ()
    suites12: tuple[str, ...] = ()
    suites13: tuple[str, ...] = ()
    groups12: tuple[str, ...] = ()
    groups13: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    unreachable: str = ""

    @property
    def groups(self) -> tuple[str, ...]:
        """Every group accepted on TLS 1.2 or 1.3, in the probe list's order."""
        both = set(self.groups12) | set(self.groups13)
        return tuple(name for name in GROUPS.values() if name in both)

    def lines(self) -> list[str]:
        """The accepted lists, for a result's evidence."""
        if self.unreachable:
            return [f"no TLS: {self.unreachable}"]
        lines = [
            f"protocols: {', '.join(self.versions) or 'none'}",
            f"TLS 1.3 suites: {', '.join(self.suites13) or 'none'}",
            f"TLS 1.2 suites: {', '.join(self.suites12) or 'none'}",
            f"groups: {', '.join(self.groups) or 'none'}"
            + (
                f" (TLS 1.2: {', '.join(self.groups12) or 'none'}; "
                f"TLS 1.3: {', '.join(self.groups13) or 'none'})"
                if set(self.groups12) != set(self.groups13)
                else ""
            ),
        ]
        if self.errors:
            lines.append(f"no answer ({len(self.errors)}): {'; '.join(self.errors[:4])}")
        return lines


def _answered(answer: ServerAnswer) -> bool:
    """An answer either way (a hello or an alert, or a close right after the ClientHello)."""
    return answer.accepted or answer.alert >= 0 or not answer.error.startswith("ProbeError")


def scan(opener: Opener, name: str, parallel: int = PARALLEL) -> Accepted:
    """Offer each version, TLS 1.3 suite and TLS 1.2 curve alone, and find every TLS 1.2 suite
    and TLS 1.3 group the server takes by taking out what it chose (see `taken`)."""
    all12, all13, elliptic = list(SUITES12), list(SUITES13), list(ELLIPTIC)
    ecdhe = [code for code, suite in SUITES12.items() if suite.startswith("ECDHE")]
    probes: dict[str, bytes] = {}
    for label, code in VERSIONS.items():
        probes[f"version {label}"] = client_hello(name, all12, elliptic, code)
    probes["version TLS 1.3"] = client_hello(name, all13, list(GROUPS), tls13=True)
    for code in SUITES13:
        probes[f"suite13 {code}"] = client_hello(name, [code], list(GROUPS), tls13=True)
    for code in ELLIPTIC:
        # An ECDSA certificate's own curve must be among the groups on TLS 1.2: P-256 and
        # P-384 follow, after the group tried. A server that picks by its own order may
        # then take one of those instead; TLS 1.3 (below) still tells.
        curves = list(dict.fromkeys([code, 0x0017, 0x0018]))
        probes[f"group12 {code}"] = client_hello(name, ecdhe, curves)

    def suites12_hello(left: list[int]) -> bytes:
        return client_hello(name, left, SUITES12_GROUPS)

    def groups13_hello(left: list[int]) -> bytes:
        return client_hello(name, all13, left, tls13=True)

    # Each list dealt in turn into hands, so that the few items a hardened server takes (the
    # tables' first) fall in different hands and each hand needs about two connections.
    hands = [("suite12", all12[start::parallel], suites12_hello) for start in range(parallel)]
    half = max(1, parallel // 2)
    hands += [("group13", list(GROUPS)[start::half], groups13_hello) for start in range(half)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        chains = [pool.submit(taken, opener, kind, hand, hello) for kind, hand, hello in hands]
        futures = {key: pool.submit(offer, opener, hello) for key, hello in probes.items()}
        answers = {key: future.result() for key, future in futures.items()}
        for chain in chains:
            answers.update(chain.result())
    return tally(answers)


def taken(
    opener: Opener, kind: str, items: Sequence[int], hello: Callable[[list[int]], bytes]
) -> dict[str, ServerAnswer]:
    """Each item's answer (TLS 1.2 suites, kind "suite12", or TLS 1.3 groups, "group13"),
    keyed as `tally` reads them: the items are offered together, the one the server chose is
    taken out and the rest offered again, until it refuses them all. As many connections as
    items it takes, plus one, not one an item.

    A TLS server takes a list when it takes one of its items alone, and chooses one it would
    take alone (OpenSSL goes through the list, or its own, for the first it can use): so this
    finds what one offer an item finds. The last answer (the refusal, or the error that ended
    the offers) stands for every item left.
    """
    left = list(items)
    answers: dict[str, ServerAnswer] = {}
    while left:
        answer = offer(opener, hello(left))
        chosen = answer.group if kind == "group13" else answer.suite
        if not (answer.accepted and chosen in left):
            return answers | {f"{kind} {code}": answer for code in left}
        answers[f"{kind} {chosen}"] = answer
        left.remove(chosen)
    return answers


def tally(answers: Mapping[str, ServerAnswer]) -> Accepted:
    """Sort the answers of `scan` into accepted lists (in the probe tables' order)."""
    if not any(_answered(a) for a in answers.values()):
        first = next(iter(answers.values()), ServerAnswer(error="not tried"))
        return Accepted(unreachable=first.error.removeprefix("ProbeError: "))
    versions, suites12, suites13, groups12, groups13, errors = [], [], [], [], [], []
    for key, answer in answers.items():
        kind, _, value = key.partition(" ")
        if not answer.accepted:
            if answer.alert < 0 and ("timed out" in answer.error or not _answered(answer)):
                errors.append(f"{describe(kind, value)}: {answer.error}")
            continue
        if kind == "version":
            wanted = TLS13 if value == "TLS 1.3" else VERSIONS[value]
            if answer.version == wanted:
                versions.append(value)
        elif kind == "suite12" and answer.version < TLS13 and answer.suite == int(value):
            suites12.append(SUITES12[int(value)])
        elif kind == "suite13" and answer.version == TLS13 and answer.suite == int(value):
            suites13.append(SUITES13[int(value)])
        elif kind == "group13" and answer.version == TLS13 and answer.group == int(value):
            groups13.append(GROUPS[int(value)])
        elif kind == "group12" and answer.version < TLS13 and answer.group == int(value):
            groups12.append(GROUPS[int(value)])
    order = [*VERSIONS, "TLS 1.3"]
    return Accepted(
        versions=tuple(sorted(versions, key=order.index)),
        suites12=_ordered(suites12, SUITES12.values()),
        suites13=_ordered(suites13, SUITES13.values()),
        groups12=_ordered(groups12, GROUPS.values()),
        groups13=_ordered(groups13, GROUPS.values()),
        errors=tuple(errors),
    )


def describe(kind: str, value: str) -> str:
    """A probe's key in words."""
    if kind.startswith("suite"):
        return {**SUITES12, **SUITES13}.get(int(value), value)
    if kind.startswith("group"):
        return GROUPS.get(int(value), value)
    return value


def _ordered(found: Iterable[str], order: Iterable[str]) -> tuple[str, ...]:
    chosen = set(found)
    return tuple(name for name in order if name in chosen)


# ----------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class Verdict:
    """Accepted items outside the profile, and profile versions missing."""

    outside: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    non_forward_secret: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Nothing outside, nothing missing."""
        return not self.outside and not self.missing


def judge_profile(accepted: Accepted) -> Verdict:
    """What this port accepts beyond Mozilla intermediate, and which of its versions it lacks."""
    outside = [v for v in accepted.versions if v not in PROFILE_VERSIONS]
    outside += [s for s in accepted.suites12 if s not in PROFILE_SUITES12]
    outside += [s for s in accepted.suites13 if s not in PROFILE_SUITES13]
    outside += [g for g in accepted.groups if g not in PROFILE_GROUPS]
    missing = [v for v in PROFILE_VERSIONS if v not in accepted.versions]
    ephemeral = ("ECDHE", "DHE", "EDH", "AECDH", "ADH", "EXP-EDH")
    static = tuple(s for s in accepted.suites12 if not s.startswith(ephemeral))
    return Verdict(tuple(outside), tuple(missing), static)
