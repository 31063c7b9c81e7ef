"""The web steps by keyboard against a real host: web (and the firewall it makes outdated),
database, vhost, tls from Pebble, hsts; every check ok on the verify screen of each."""

from __future__ import annotations

import pytest

from tests.host.acme import DOMAIN, PEBBLE, QUICK, start_acme_ca
from tests.host.harness import DAY_ONE_STEPS, apply_ok
from tests.host.pilot import (
    highlighted_step,
    make_app,
    overview_ready,
    run_step,
    select_step,
    wait_until,
)

pytestmark = pytest.mark.host


async def test_web_database_vhost_tls_hsts_by_keyboard(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    apply_ok(wizard, f"root@{fresh_testhost.address}", DAY_ONE_STEPS, answers=QUICK)
    start_acme_ca(fresh_testhost)

    app = make_app(wizard, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 30)
        # The cursor is on the first step not applied: kernel-hardening, the series' order.
        assert highlighted_step(app) == "kernel-hardening"
        await select_step(pilot, app, "web")
        # Port 80 makes the firewall outdated: its review follows, and both are checked.
        await run_step(pilot, app, "web", {})
        assert app.screen.statuses["firewall"].record.status == "verified"
        await select_step(pilot, app, "database")
        await run_step(pilot, app, "database", {})
        await select_step(pilot, app, "vhost")
        await run_step(pilot, app, "vhost", {"domain": DOMAIN})
        tls = {
            "acme_server": "https://localhost:14000/dir",
            "email": f"admin@{DOMAIN}",
            "acme_ca_bundle": f"{PEBBLE}/tls-ca.pem",
            "ca_file": f"{PEBBLE}/root.pem",
        }
        await select_step(pilot, app, "tls")
        await run_step(pilot, app, "tls", tls)
        assert app.screen.statuses["firewall"].record.status == "verified"
        await select_step(pilot, app, "hsts")
        await run_step(pilot, app, "hsts", {})
        statuses = {s.step.id: s.record.status for s in app.screen.statuses.values()}
        await pilot.press("q")

    web_steps = ("web", "database", "vhost", "tls", "hsts")
    assert all(statuses[s] == "verified" for s in (*DAY_ONE_STEPS, *web_steps)), statuses
    ruleset = fresh_testhost.exec("nft list table inet vpswizard").stdout
    assert "80" in ruleset and "443" in ruleset, ruleset
    served = fresh_testhost.exec(f"ls /etc/letsencrypt/live/{DOMAIN}/").stdout
    assert "fullchain.pem" in served
