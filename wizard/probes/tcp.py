"""TCP connection attempts from the outside, and the addresses a server is reached on."""

from __future__ import annotations

import concurrent.futures
import errno
import os
import selectors
import socket
import time
from collections.abc import Iterable
from typing import Literal

TcpState = Literal["open", "refused", "filtered", "unreachable"]
# Open or refused (RST) both mean a firewall let the packet in.
ANSWERS: tuple[TcpState, ...] = ("open", "refused")

# How long silence must last before a port that must not answer is judged filtered, when a
# port of the same address that does answer (its SSH port) came back in RTT seconds: this
# many round trips, never less than SILENCE_MIN_S (a busy machine's scheduling), never more
# than the fixed wait the check had before (a link that answered slowly).
SILENCE_RTTS = 10
SILENCE_MIN_S = 0.5
# SYNs sent to a port that must stay silent, spread over the wait: one lost packet does not
# make an open port look filtered (the kernel itself would resend only after a second).
SILENT_TRIES = 3


def probe_tcp(address: str, port: int, timeout: float, tries: int = 1) -> tuple[TcpState, str]:
    """Connect: open, refused (an RST came back), filtered (silence for `timeout` seconds),
    or unreachable. With `tries`, that many connection attempts are started `timeout/tries`
    apart, and the first answer to any of them counts."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    started = time.monotonic()
    deadline = started + timeout
    selector = selectors.DefaultSelector()
    sockets: list[socket.socket] = []
    try:
        while True:
            now = time.monotonic()
            if len(sockets) < tries and now >= started + len(sockets) * timeout / tries:
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                sockets.append(sock)
                code = sock.connect_ex((address, port))
                if code != errno.EINPROGRESS:
                    return _state(code, address)
                selector.register(sock, selectors.EVENT_WRITE)
            if now >= deadline:
                return "filtered", ""
            # Until the next attempt is due, or the deadline once every attempt started.
            next_try = started + len(sockets) * timeout / tries
            until = min(deadline, next_try) if len(sockets) < tries else deadline
            for key, _ in selector.select(max(0.0, until - now)):
                sock = key.fileobj  # type: ignore[assignment]
                selector.unregister(sock)
                return _state(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), address)
    finally:
        selector.close()
        for sock in sockets:
            sock.close()


def _state(code: int, address: str) -> tuple[TcpState, str]:
    """What a finished connection attempt's error code says."""
    if code == 0:
        return "open", ""
    if code == errno.ECONNREFUSED:
        return "refused", ""
    # Worded as the OSError a blocking connect raised: "[Errno 113] No route to host".
    return "unreachable", f"{address}: {OSError(code, os.strerror(code))}"


def silence_wait(address: str, answering_port: int, ceiling: float) -> float:
    """How long a port of `address` that must not answer is listened to (see SILENCE_RTTS):
    from the time a connection to `answering_port` (the SSH port) took; the ceiling when that
    port did not answer either."""
    started = time.monotonic()
    state, _ = probe_tcp(address, answering_port, ceiling)
    if state not in ANSWERS:
        return ceiling
    return min(ceiling, max(SILENCE_MIN_S, SILENCE_RTTS * (time.monotonic() - started)))


def silence_waits(
    addresses: Iterable[str], answering_port: int, ceiling: float
) -> dict[str, float]:
    """silence_wait for every address at once (one round trip, not one an address)."""
    addresses = list(dict.fromkeys(addresses))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(addresses))) as pool:
        waits = pool.map(lambda a: silence_wait(a, answering_port, ceiling), addresses)
        return dict(zip(addresses, waits, strict=True))


def server_addresses(host: str, ipv6: Iterable[str]) -> list[str]:
    """The addresses to probe: what the host name resolves to, and every global IPv6."""
    resolved = [
        str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    ]
    return list(dict.fromkeys([*resolved, *ipv6]))
