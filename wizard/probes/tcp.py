"""One TCP connection attempt from the outside, and the addresses a server is reached on."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Literal

TcpState = Literal["open", "refused", "filtered", "unreachable"]
# Open or refused (RST) both mean a firewall let the packet in.
ANSWERS: tuple[TcpState, ...] = ("open", "refused")


def probe_tcp(address: str, port: int, timeout: float) -> tuple[TcpState, str]:
    """Connect once: open, refused (an RST came back), filtered (silence), or unreachable."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except ConnectionRefusedError:
            return "refused", ""
        except TimeoutError:
            return "filtered", ""
        except OSError as error:
            return "unreachable", f"{address}: {error}"
    return "open", ""


def server_addresses(host: str, ipv6: Iterable[str]) -> list[str]:
    """The addresses to probe: what the host name resolves to, and every global IPv6."""
    resolved = [
        str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    ]
    return list(dict.fromkeys([*resolved, *ipv6]))
