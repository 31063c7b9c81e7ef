"""The TUI by keyboard against a real host: the five day-one steps, quit after two, resume."""

from __future__ import annotations

import pytest

from tests.host.harness import DAY_ONE_STEPS
from tests.host.pilot import highlighted_step, make_app, overview_ready, run_step, wait_until

pytestmark = pytest.mark.host


async def test_five_steps_by_keyboard_then_quit_and_resume(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()

    first = make_app(wizard, "root")
    async with first.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: overview_ready(first), 30)
        await run_step(pilot, first, "base", {"fqdn": "tui.example.net"})
        await run_step(pilot, first, "admin-user", {"username": "keys"})
        await pilot.press("q")

    # Later, from the same laptop: no user given, the wizard continues at the third step.
    second = make_app(wizard, None)
    async with second.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: overview_ready(second), 30)
        assert highlighted_step(second) == "ssh-hardening"
        await run_step(pilot, second, "ssh-hardening", {})
        await run_step(pilot, second, "firewall", {})
        await run_step(pilot, second, "fail2ban", {})
        statuses = {s.step.id: s.record.status for s in second.screen.statuses.values()}
        await pilot.press("q")
    assert all(statuses[s] == "verified" for s in DAY_ONE_STEPS), statuses
    assert fresh_testhost.exec("hostname -f").stdout.strip() == "tui.example.net"
    assert "keys" in fresh_testhost.exec("getent group sudo").stdout
