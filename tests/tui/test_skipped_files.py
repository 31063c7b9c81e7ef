"""Skipping files: said before the apply (what still runs), and named in the checks' hints."""

from __future__ import annotations

import dataclasses

from textual.widgets import Static

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.skipped import SkipConfirmModal
from screens.verify import VerifyScreen
from tests.tui.conftest import firewall_plan
from wizard.state import StepRecord


def nftables_plan(catalog):
    """The firewall's only file, with nftables to install and enable."""
    return dataclasses.replace(
        firewall_plan(catalog), missing_packages=("nftables",), services_to_enable=("nftables",)
    )


async def test_skipping_the_only_file_is_explained_before_apply_and_in_the_hints(
    make_app, scripted, settle, fake, options
):
    plan = nftables_plan(fake.catalog)
    dest = plan.files[0].dest
    fake.plans["firewall"] = plan
    fake.records["base"] = StepRecord("base", "applied")
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await app.go_to_step(fake.catalog.get("firewall"))
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("space")
        approved = str(app.screen.query_one("#approved", Static).visual)
        assert "0 of 1" in approved and "not written" in approved
        # Apply asks first, and says what still happens without the file.
        await pilot.press("A")
        await settle(pilot, until=lambda: isinstance(app.screen, SkipConfirmModal))
        meaning = str(app.screen.query_one("#meaning", Static).visual)
        assert dest in meaning
        assert "installs nftables" in meaning and "enables and starts nftables" in meaning
        assert "checks" in meaning
        # Back leaves the review as it was: nothing applied.
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        assert not [c for c in fake.calls if c[0] == "apply"]
        await pilot.press("A")
        await settle(pilot, until=lambda: isinstance(app.screen, SkipConfirmModal))
        await pilot.press("y")
        await settle(
            pilot, until=lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running
        )
        applied = next(c[1] for c in fake.calls if c[0] == "apply")
        assert not applied.files[0].approved
        screen = app.screen
        # The ok check says nothing of it; the failing one points to the skipped file.
        assert "skipped" not in str(screen.query_one("#details", Static).visual)
        await pilot.press("down", "down")
        hint = str(screen.query_one("#details", Static).visual)
        assert f"the last apply of firewall skipped {dest}" in hint
