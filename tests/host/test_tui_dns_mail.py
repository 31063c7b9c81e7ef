"""The five DNS and mail steps by keyboard against one real host, after day one and the web
steps (headless): dns-zone (then the firewall it makes outdated), dnssec, mail (then the
firewall and fail2ban it makes outdated), mail-auth, dane. Every verify screen without a
failure, every step verified at the end."""

from __future__ import annotations

import pytest

from tests.host.acme import QUICK
from tests.host.dnsparent import ParentZone
from tests.host.harness import DAY_ONE_STEPS, apply_ok
from tests.host.pilot import make_app, overview_ready, run_step, select_step, wait_until

pytestmark = pytest.mark.host
DOMAIN = "example.net"
STEPS = ("dns-zone", "dnssec", "mail", "mail-auth", "dane")
WEB = (
    f'\n[web]\nserver = "nginx"\n\n[vhost]\ndomain = "{DOMAIN}"\n\n[tls]\nsource = "self-signed"\n'
)


async def test_dns_and_mail_steps_by_keyboard(fresh_testhost, wizard_factory, tmp_path):
    host = fresh_testhost
    wizard = wizard_factory(host)
    wizard.trust_host()
    answers = tmp_path / "answers.toml"
    answers.write_text(QUICK.read_text() + WEB)
    apply_ok(wizard, f"root@{host.address}", [*DAY_ONE_STEPS, "web", "vhost", "tls"], answers)
    parent = ParentZone(host)
    try:
        app = make_app(wizard, None)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: overview_ready(app), 30)
            # Domain, addresses and names come from the earlier answers; the parent zone is
            # read at the test's registry server.
            await select_step(pilot, app, "dns-zone")
            await run_step(pilot, app, "dns-zone", {"parent_resolver": host.gateway})
            glue = f"ns1.{DOMAIN}. IN A {host.address}"
            parent.delegate([f"{DOMAIN}. IN NS ns1.{DOMAIN}.", glue])
            await select_step(pilot, app, "dnssec")
            await run_step(pilot, app, "dnssec", {})
            await select_step(pilot, app, "mail")
            await run_step(pilot, app, "mail", {"password": "correct horse battery"})
            await select_step(pilot, app, "mail-auth")
            await run_step(pilot, app, "mail-auth", {})
            await select_step(pilot, app, "dane")
            await run_step(pilot, app, "dane", {})
            statuses = {s.step.id: s.record.status for s in app.screen.statuses.values()}
            await pilot.press("q")
    finally:
        parent.stop()
    assert all(statuses[s] == "verified" for s in ("firewall", "fail2ban", *STEPS)), statuses
    assert host.exec(f"dig +short +norecurse @127.0.0.1 {DOMAIN} DNSKEY").stdout.strip()
    # Postfix arrived with the mail step: fail2ban's postfix-auth jail was turned on with it.
    assert "postfix-auth" in host.exec("fail2ban-client status").stdout
