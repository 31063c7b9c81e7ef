"""The overview: statuses, notices, the help of the highlighted step, where to continue."""

from __future__ import annotations

from textual.widgets import DataTable, Markdown, Static

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from wizard.state import StepRecord


async def test_overview_shows_statuses_notices_and_starts_at_the_next_step(
    make_app, scripted, settle, fake, options
):
    fake.notices.append("run 20240101 (base) was interrupted while 'writing': undone")
    fake.records["base"] = StepRecord("base", "verified")
    fake.records["admin-user"] = StepRecord(
        "admin-user", "failed", message="visudo refused /etc/sudoers.d/90-x"
    )
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        screen = app.screen
        notices = screen.query_one("#notices", Static)
        assert notices.display and "interrupted" in str(notices.visual)
        table = screen.query_one("#steps", DataTable)
        assert [str(k.value) for k in table.rows] == list(fake.catalog.ids())
        assert "verified" in str(table.get_cell("base", "status"))
        assert "failed" in str(table.get_cell("admin-user", "status"))
        assert "after admin-user" in str(table.get_cell("ssh-hardening", "status"))
        # base is verified: the cursor waits on admin-user, its help and failure below.
        assert screen.highlighted().step.id == "admin-user"
        await pilot.pause()
        help_text = screen.query_one("#help", Markdown).source
        assert "Admin user" in help_text and "/etc/sudoers.d/90-x" in help_text
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        assert app.screen.step.id == "admin-user"


async def test_blocked_step_does_not_open(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert not [c for c in fake.calls if c[0] == "default_answers"]


async def test_q_quits(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
