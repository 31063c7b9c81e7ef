"""Applying admin-user with another name asks first, in the TUI too: a second admin is added
and the wizard logs in as them from then on."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from screens.apply import ApplyScreen
from screens.confirm import ConfirmModal
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from tests.tui.conftest import new_file_plan
from wizard.state import StepRecord

WARNING = (
    "bob would be added as a second admin: alice stays an admin (its key and sudo are left as "
    "they are), and the wizard would log in as bob from then on instead of alice"
)


@pytest.mark.parametrize(("key", "applied"), [("y", True), ("n", False), ("escape", False)])
async def test_a_second_admin_is_asked_for_before_the_apply(
    make_app, scripted, settle, fake, options, key, applied
):
    fake.records["base"] = StepRecord("base", "applied")
    fake.plans["admin-user"] = new_file_plan(fake.catalog, "admin-user")
    fake.second_admin_warning = WARNING
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await app.go_to_step(fake.catalog.get("admin-user"))
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("A")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert "log in as bob from then on" in str(app.screen.query_one("#meaning", Static).visual)
        # Asked before anything runs on the server.
        assert not [c for c in fake.calls if c[0] == "apply"]
        await pilot.press(key)
        if applied:
            await settle(pilot, until=lambda: any(c[0] == "verify" for c in fake.calls))
        else:
            await settle(pilot, until=lambda: not isinstance(app.screen, ConfirmModal))
            assert not any(isinstance(s, ApplyScreen) for s in app.screen_stack)
    assert bool([c for c in fake.calls if c[0] == "apply"]) is applied
