"""The DNS and mail steps by keyboard against a real host: dns-zone (and the firewall it makes
outdated), dnssec; every check without a failure on the verify screen of each."""

from __future__ import annotations

import pytest

from tests.host.acme import QUICK
from tests.host.dnsparent import ParentZone
from tests.host.harness import DAY_ONE_STEPS, apply_ok
from tests.host.pilot import (
    make_app,
    overview_ready,
    run_step,
    select_step,
    wait_until,
)

pytestmark = pytest.mark.host
DOMAIN = "example.net"


async def test_dns_and_mail_steps_by_keyboard(fresh_testhost, wizard_factory):
    host = fresh_testhost
    wizard = wizard_factory(host)
    wizard.trust_host()
    apply_ok(wizard, f"root@{host.address}", DAY_ONE_STEPS, answers=QUICK)
    parent = ParentZone(host)
    try:
        app = make_app(wizard, None)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: overview_ready(app), 30)
            await select_step(pilot, app, "dns-zone")
            # Domain, address and names come from the day-one answers; the parent is read at
            # the registry's server of the test.
            await run_step(pilot, app, "dns-zone", {"parent_resolver": host.gateway})
            assert app.screen.statuses["firewall"].record.status == "verified"
            parent.delegate(
                [f"{DOMAIN}. IN NS ns1.{DOMAIN}.", f"ns1.{DOMAIN}. IN A {host.address}"]
            )
            await select_step(pilot, app, "dnssec")
            await run_step(pilot, app, "dnssec", {})
            statuses = {s.step.id: s.record.status for s in app.screen.statuses.values()}
            await pilot.press("q")
    finally:
        parent.stop()
    assert statuses["dns-zone"] == "verified" and statuses["dnssec"] == "verified", statuses
    assert host.exec(f"dig +short +norecurse @127.0.0.1 {DOMAIN} DNSKEY").stdout.strip()
