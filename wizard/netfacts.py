"""The network facts: the interface the session rides on, what configures it, and its IPv6.

The ipv6 step writes its address into the file of the manager that really configures the
interface (systemd-networkd, netplan or ifupdown) and proposes what the server already has.
Everything here comes from the server, so each value is checked before a template or a path
uses it: an interface or file name that is not one is left out, never quoted into a path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from wizard.shell import Shell, code


class NetworkManager(StrEnum):
    """What configures an interface at boot; the ipv6 step's `manager` choices."""

    NETWORKD = "systemd-networkd"
    NETPLAN = "netplan"
    IFUPDOWN = "ifupdown"


# The facts script's lines (net_*=...), run with "$1" = SSH_CONNECTION: the interface is the
# one the answer to the client leaves by. networkctl names the .network file networkd applied
# (netplan's are generated into /run/systemd/network); ifupdown keeps a state file per
# interface it brought up.
NETWORK_SCRIPT: Shell = code(
    """\
net_iface=$(ip -o route get "${1%% *}" 2>/dev/null | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')
echo "net_iface=$net_iface"
if [ -n "$net_iface" ]; then
  echo "net_ipv6=$(ip -o -6 addr show dev "$net_iface" scope global 2>/dev/null \\
    | awk '{print $4}' | tr '\\n' ' ')"
  echo "net_ipv6_gateway=$(ip -6 route show default dev "$net_iface" 2>/dev/null \\
    | awk '$2 == "via" {print $3; exit}')"
  echo "net_network_file=$(networkctl status --no-pager -- "$net_iface" 2>/dev/null \\
    | sed -n 's/^ *Network File: //p')"
  if [ -e "/run/network/ifstate.$net_iface" ]; then echo "net_ifupdown=yes"; fi
fi"""
)

# Linux interface names: at most 15 characters, no slash or space (we also keep out what a
# shell or a path would read differently).
_IFACE = re.compile(r"[A-Za-z0-9_.@-]{1,15}")
_NETWORK_FILE = re.compile(r"/(etc|run|usr/lib|lib)/systemd/network/[A-Za-z0-9_.@-]+\.network")


@dataclass(frozen=True)
class Network:
    """The interface the session rides on and how it is configured; empty when unknown."""

    interface: str = ""
    # The manager configuring the interface at boot, "" when none the wizard knows.
    manager: str = ""
    # The .network file systemd-networkd applied to it (for networkd and netplan).
    network_file: str = ""
    # Its global IPv6 addresses with their prefix length ("2001:db8::2/64").
    ipv6: tuple[str, ...] = ()
    ipv6_gateway: str = ""

    @property
    def network_name(self) -> str:
        """The .network file's name: its drop-ins go in /etc/systemd/network/NAME.d/."""
        return self.network_file.rsplit("/", 1)[-1]

    def as_template_context(self) -> dict[str, object]:
        """The network as templates and defaults see it (facts.network.NAME)."""
        return {
            "interface": self.interface,
            "manager": self.manager,
            "network_file": self.network_file,
            "network_name": self.network_name,
            "ipv6": self.ipv6,
            "ipv6_gateway": self.ipv6_gateway,
        }


def _interfaces(text: str) -> tuple[str, ...]:
    """The IPv6 interface addresses (address/length) in text, canonical; others left out."""
    found = []
    for word in text.split():
        try:
            found.append(str(ipaddress.IPv6Interface(word)))
        except ValueError:
            continue
    return tuple(dict.fromkeys(found))


def _address(text: str) -> str:
    try:
        return str(ipaddress.IPv6Address(text.strip()))
    except ValueError:
        return ""


def parse_network(values: Mapping[str, str]) -> Network:
    """The net_* lines of the facts script as a Network; each value checked, or left empty."""
    iface = values.get("net_iface", "").strip()
    if not _IFACE.fullmatch(iface):
        return Network()
    network_file = values.get("net_network_file", "").strip()
    if not _NETWORK_FILE.fullmatch(network_file):
        network_file = ""
    if network_file.startswith("/run/systemd/network/") and "netplan" in network_file:
        manager = NetworkManager.NETPLAN.value
    elif network_file:
        manager = NetworkManager.NETWORKD.value
    elif values.get("net_ifupdown", "").strip() == "yes":
        manager = NetworkManager.IFUPDOWN.value
    else:
        manager = ""
    return Network(
        interface=iface,
        manager=manager,
        network_file=network_file,
        ipv6=_interfaces(values.get("net_ipv6", "")),
        ipv6_gateway=_address(values.get("net_ipv6_gateway", "")),
    )
