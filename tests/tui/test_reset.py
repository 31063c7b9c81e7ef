"""On connect, a server that does not back this machine's record: a dialog says it looks
reinstalled or reset, nothing is shown applied or verified, and it offers to start over (the
old record archived) or to verify step by step."""

from __future__ import annotations

from textual.widgets import Button, DataTable

from screens.overview import OverviewScreen
from screens.reset import ResetModal
from screens.verify import VerifyScreen
from wizard.session import ResetSuspected
from wizard.state import StepRecord

REASON = "it has no trace of vps-wizard (no /var/lib/vps-wizard/state.json, no journal)"


def reinstalled(fake_session_class, catalog):
    """A fake session as Session.open leaves it on a reinstalled server."""

    class Reinstalled(fake_session_class):
        def start_over(self) -> str:
            self.calls.append(("start_over",))
            self.reset = None
            self.records = {step.id: StepRecord(step.id) for step in self.catalog.steps}
            return "archived:1:SHA256:old"

    fake = Reinstalled(catalog)
    fake.reset = ResetSuspected(REASON, ("base", "admin-user"))
    for step_id in ("base", "admin-user"):
        fake.records[step_id] = StepRecord(
            step_id, "unconfirmed", message="this machine's record says it was applied"
        )
    return fake


def shown_statuses(app) -> str:
    table = app.screen.query_one(DataTable)
    return " ".join(str(cell) for row in range(table.row_count) for cell in table.get_row_at(row))


async def test_a_reinstalled_server_is_said_on_connect_and_nothing_claimed(
    make_app, scripted, settle, options, catalog, fake_session_class
):
    fake = reinstalled(fake_session_class, catalog)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ResetModal))
        text = " ".join(str(w.render()) for w in app.screen.query("Static, Label"))
        assert "looks reinstalled or reset" in text
        assert "base, admin-user" in text
        labels = [str(b.label) for b in app.screen.query(Button)]
        assert "Start over (the old record archived)" in labels
        assert "Verify step by step" in labels
        # Not now: the overview shows the steps unconfirmed, none verified or applied.
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        statuses = shown_statuses(app)
        assert "unconfirmed" in statuses
        assert "verified" not in statuses and "applied" not in statuses
    assert ("start_over",) not in fake.calls


async def test_start_over_archives_and_shows_every_step_pending(
    make_app, scripted, settle, options, catalog, fake_session_class
):
    fake = reinstalled(fake_session_class, catalog)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ResetModal))
        await pilot.click("#start-over")
        await settle(
            pilot,
            until=lambda: isinstance(app.screen, OverviewScreen) and ("start_over",) in fake.calls,
        )
        await settle(pilot, until=lambda: "unconfirmed" not in shown_statuses(app))
        assert "pending" in shown_statuses(app)
        assert not isinstance(app.screen, ResetModal)


async def test_verify_step_by_step_runs_the_claimed_steps_checks(
    make_app, scripted, settle, options, catalog, fake_session_class
):
    fake = reinstalled(fake_session_class, catalog)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ResetModal))
        await pilot.press("v")
        await settle(pilot, until=lambda: isinstance(app.screen, VerifyScreen))
        await settle(pilot, until=lambda: any(c[0] == "verify" for c in fake.calls))
    assert ("verify", ["base", "admin-user"]) in fake.calls
    assert ("start_over",) not in fake.calls
