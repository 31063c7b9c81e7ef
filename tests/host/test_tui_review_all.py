"""Review everything in the TUI, against a real host: the answers typed in a form, then `R`
plans the whole small set (base, admin-user, ssh-hardening) before anything changes, `A` applies
them in order with a `y` before each, and the server ends as reviewed."""

from __future__ import annotations

import dataclasses

import pytest
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review_all import ConfirmStepModal, ReviewAllScreen
from screens.verify import VerifyScreen
from tests.host.pilot import overview_ready, wait_until
from wizard.catalog import load_catalog
from wizard.endpoint import Stats
from wizard.session import Session
from wizard.state import StateStore

pytestmark = pytest.mark.host

SMALL_SET = ("base", "admin-user", "ssh-hardening")
FQDN = "reviewed.example.net"


def small_app(wizard):
    """The real app on the real engine, its catalog cut to the small set."""
    from screens.app import WizardApp

    catalog = load_catalog()
    small = dataclasses.replace(catalog, steps=tuple(catalog.get(s) for s in SMALL_SET))
    return WizardApp(
        small, StateStore(wizard.state), wizard.options("root"), session_factory=Session.open
    )


async def type_draft(pilot, app, name: str, value: str) -> None:
    """Open the highlighted step's form, type one answer, go back: it is kept as a draft."""
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, QuestionsScreen), 60)
    control = app.screen.field(name).control_widget
    assert isinstance(control, Input)
    control.focus()
    control.value = ""
    await pilot.press(*value)
    await pilot.press("escape")
    await wait_until(pilot, lambda: overview_ready(app), 60)


def review_shown(app) -> bool:
    """The review of everything is on screen with its list filled in."""
    if not isinstance(app.screen, ReviewAllScreen):
        return False
    try:
        return app.screen.query_one("#steps", DataTable).row_count > 0
    except NoMatches:  # pushed, not composed yet
        return False


def run_ended_or_asking(app) -> bool:
    """The run asks about its next step, or it has ended with its checks shown."""
    if isinstance(app.screen, ConfirmStepModal):
        return True
    screen = app.screen
    ended = app._run is None and not app._work_running()
    return ended and not (isinstance(screen, VerifyScreen) and screen.running)


async def test_review_everything_then_apply_all_with_a_yes_per_step(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    hostname_before = fresh_testhost.exec("hostname").stdout.strip()
    app = small_app(wizard)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 60)
        # The test host's name has no dot: base's FQDN has no default and is typed.
        await type_draft(pilot, app, "fqdn", FQDN)

        await pilot.press("R")
        await wait_until(pilot, lambda: review_shown(app), 240)
        review = app.screen
        assert list(review.run.steps) == list(SMALL_SET), review.run
        assert not review.run.refused, review.run.refused
        table = review.query_one("#steps", DataTable)
        listed = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert [s for s in listed if s] == list(SMALL_SET), listed
        summary = str(review.query_one("#summary", Static).visual)
        assert "3 step(s) planned in order, nothing changed yet" in summary
        # base's diff already holds the typed name; nothing has changed on the server.
        hostname_plan = next(
            c
            for item in review.run.planned
            for c in item.plan.changed_files
            if c.dest == "/etc/hostname"
        )
        assert FQDN.split(".")[0] in hostname_plan.new.decode()
        assert fresh_testhost.exec("hostname").stdout.strip() == hostname_before

        await pilot.press("A")
        asked: list[str] = []
        while True:
            await wait_until(pilot, lambda: run_ended_or_asking(app), 900)
            if not isinstance(app.screen, ConfirmStepModal):
                break
            asked.append(app.screen.item.plan.step.id)
            await pilot.press("y")
            await pilot.pause(0.5)
        assert asked == list(SMALL_SET), asked
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen | OverviewScreen))
        if isinstance(app.screen, VerifyScreen):
            failed = [r for r in app.screen.results if r.status == "fail"]
            assert not failed, failed
        await pilot.press("escape")
        await wait_until(pilot, lambda: overview_ready(app), 60)
        statuses = {s.step.id: s.record.status for s in app.screen.statuses.values()}
        await pilot.press("q")
    assert statuses == dict.fromkeys(SMALL_SET, "verified"), statuses

    # The server as reviewed: the typed name, the admin with sudo, root's SSH login closed.
    assert fresh_testhost.exec("hostname -f").stdout.strip() == FQDN
    assert "admin" in fresh_testhost.exec("getent group sudo").stdout
    effective = fresh_testhost.exec("sshd -T -C user=root,host=x,addr=192.0.2.1").stdout
    assert "permitrootlogin no" in effective
    assert "passwordauthentication no" in effective
    # Checked again from a new session, as a user would the next day.
    session = Session.open(load_catalog(), StateStore(wizard.state), wizard.options(None), Stats())
    try:
        assert session.remote.user == "admin"
        assert all(session.host.step(s).status == "verified" for s in SMALL_SET)
    finally:
        session.close()
