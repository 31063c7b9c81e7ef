"""Apply and verify, and the one error path for every worker."""

from __future__ import annotations

import threading

from textual.widgets import DataTable, RichLog, Static

from screens.apply import ApplyScreen
from screens.error import ErrorModal
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.verify import VerifyScreen
from tests.tui.conftest import firewall_plan
from wizard.errors import ApplyFailed, WizardError


async def apply_base(app, pilot, settle) -> None:
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    await pilot.press("enter")
    await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
    await pilot.press("ctrl+n")
    await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
    await pilot.press("A")


async def test_apply_failure_shows_message_and_hint_and_leads_back(
    make_app, scripted, settle, fake, options
):
    fake.apply_error = ApplyFailed(
        "nginx -t refused the new /etc/nginx/nginx.conf: unknown directive",
        "the server was rolled back; fix the answer and apply again",
    )
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await apply_base(app, pilot, settle)
        await settle(
            pilot,
            until=lambda: isinstance(app.screen, ApplyScreen) and app.screen.has_class("-failed"),
        )
        screen = app.screen
        log = "\n".join(line.text for line in screen.query_one("#log", RichLog).lines)
        assert "backing up 3 files" in log and "reloading" in log
        assert "unknown directive" in str(screen.query_one("#failure-message", Static).visual)
        assert "rolled back" in str(screen.query_one("#failure-hint", Static).visual)
        assert not any(isinstance(s, ErrorModal) for s in app.screen_stack)
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    assert not [c for c in fake.calls if c[0] == "verify"]


async def test_verify_lists_results_and_shows_evidence_and_hint(
    make_app, scripted, settle, fake, options
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("v")
        await settle(
            pilot,
            until=lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running,
        )
        screen = app.screen
        table = screen.query_one("#results", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        # In the step's order, whatever order they arrived in.
        assert rows == [
            ["✔", "base.hostname", "hostname -f answers vps.example.org"],
            ["!", "base.upgrades", "3 upgrades pending"],
            ["✘", "base.timezone", "the time zone is Europe/Paris, not UTC"],
        ]
        assert "1 ok, 1 warning(s), 1 failed" in str(screen.query_one("#status", Static).visual)
        await pilot.press("down", "down")
        details = screen.query_one("#details", Static).visual
        text = str(details)
        assert "Time zone: Europe/Paris" in text
        assert "apply the base step again" in text
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        # The fake recorded the failed verify: the overview shows it.
        overview = app.screen
        assert "failed" in str(overview.query_one("#steps", DataTable).get_cell("base", "status"))


async def test_worker_error_shows_message_and_hint_in_a_modal(
    make_app, scripted, settle, fake, options
):
    fake.verify_error = WizardError(
        "the SSH session to vps.example.org dropped", "check the network, then verify again"
    )
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("v")
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        modal = app.screen
        assert str(modal.query_one("#message", Static).visual) == fake.verify_error.message
        assert fake.verify_error.hint in str(modal.query_one("#hint", Static).visual)
        assert "Traceback" not in str(modal.query_one("#message", Static).visual)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, VerifyScreen))
        # The verify screen stopped waiting and can be left.
        assert not app.screen.running
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))


async def test_unexpected_exception_is_shown_as_a_bug(make_app, scripted, settle, fake, options):
    fake.plan_error = KeyError("facts.fqdn")
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        modal = app.screen
        assert modal.message == "KeyError: 'facts.fqdn'"
        assert "bug" in modal.hint
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        # The form is usable again.
        assert not app.screen.has_class("-busy")


async def test_q_during_an_apply_asks_first(make_app, scripted, settle, fake, options):
    fake.apply_gate = threading.Event()
    app = make_app(options, scripted(fake))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await apply_base(app, pilot, settle)
            await pilot.pause()
            assert isinstance(app.screen, ApplyScreen) and app.screen.running
            await pilot.press("q")
            await pilot.pause()
            assert app.is_running
            assert any("Press q again" in n.message for n in app._notifications)
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running
    finally:
        fake.apply_gate.set()


async def test_q_quits_from_a_modal(make_app, scripted, settle, fake, options):
    fake.verify_error = WizardError("lost", "again")
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("v")
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_a_step_that_opens_a_port_leads_to_the_firewall_review_then_checks_both(
    make_app, scripted, settle, fake, options, catalog
):
    fake.followup_plans["base"] = [firewall_plan(catalog)]
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await apply_base(app, pilot, settle)
        await settle(
            pilot,
            until=lambda: (
                isinstance(app.screen, ReviewScreen) and app.screen.plan.step.id == "firewall"
            ),
        )
        summary = str(app.screen.query_one("#summary", Static).visual)
        assert "base changed what firewall must do" in summary
        await pilot.press("A")
        await settle(pilot, until=lambda: isinstance(app.screen, VerifyScreen))
        await settle(pilot, until=lambda: not app.screen.running)
    applied = [c[1].step.id for c in fake.calls if c[0] == "apply"]
    assert applied == ["base", "firewall"]
    assert [c for c in fake.calls if c[0] == "verify"] == [("verify", ["base", "firewall"])]


async def test_declining_the_firewall_review_checks_the_step_and_leaves_the_firewall(
    make_app, scripted, settle, fake, options, catalog
):
    fake.followup_plans["base"] = [firewall_plan(catalog)]
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await apply_base(app, pilot, settle)
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        await settle(pilot, until=lambda: app.screen.plan.step.id == "firewall")
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, VerifyScreen))
        await settle(pilot, until=lambda: not app.screen.running)
    assert [c[1].step.id for c in fake.calls if c[0] == "apply"] == ["base"]
    assert [c for c in fake.calls if c[0] == "verify"] == [("verify", ["base"])]
