"""networks_containing, which the firewall step's refusal calls: the user's own address in a
network to block is refused, whatever its form."""

from __future__ import annotations

import pytest

from wizard.netmatch import networks_containing


@pytest.mark.parametrize(
    ("networks", "address", "found"),
    [
        (["203.0.113.0/24", "198.51.100.7"], "203.0.113.5", ["203.0.113.0/24"]),
        (["198.51.100.7"], "198.51.100.7", ["198.51.100.7"]),
        (["2001:db8::/32"], "2001:db8:1::9", ["2001:db8::/32"]),
        # A network given with host bits set still holds its addresses.
        (["203.0.113.9/24"], "203.0.113.5", ["203.0.113.9/24"]),
        (["2001:db8::/32"], "203.0.113.5", []),
        (["203.0.113.0/24"], "", []),
        (["203.0.113.0/24"], "not an address", []),
    ],
)
def test_the_networks_holding_the_address_are_named(networks, address, found) -> None:
    assert networks_containing(networks, address) == found
