"""Address arithmetic the step files may call (a template global): which of the networks a user
typed contain a given address. Pure functions over values already parsed and validated."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any


def networks_containing(networks: Iterable[str], address: str) -> list[str]:
    """The networks (as given) that contain the address; none when the address is empty or
    not an address (a fact the server did not give), or of the other IP version."""
    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        return []
    found = []
    for network in networks:
        try:
            if wanted in ipaddress.ip_network(network, strict=False):
                found.append(network)
        except ValueError:
            continue
    return found


def template_globals() -> dict[str, Any]:
    """The functions of this module the step templates may call."""
    return {"networks_containing": networks_containing}
