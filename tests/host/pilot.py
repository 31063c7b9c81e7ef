"""Driving the real TUI with Pilot against a test host, by keyboard: shared by the TUI tests."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from textual.css.query import NoMatches
from textual.widgets import Input
from textual.worker import WorkerFailed

from screens.app import WizardApp
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.verify import VerifyScreen
from wizard.catalog import load_catalog
from wizard.session import Session
from wizard.state import StateStore

STEP_TIMEOUT = 240.0


async def wait_until(pilot: Any, condition, timeout: float = STEP_TIMEOUT) -> None:
    """Let workers run until the condition holds; fail with what is on screen otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(WorkerFailed):
            await pilot.pause(0.1)
        if condition():
            return
    raise AssertionError(f"stuck on {pilot.app.screen!r}: {pilot.app.screen.sub_title}")


def overview_ready(app: WizardApp) -> bool:
    """The overview is shown with the steps' statuses loaded."""
    screen = app.screen
    if not isinstance(screen, OverviewScreen):
        return False
    try:
        return screen.highlighted() is not None
    except NoMatches:  # pushed, not composed yet
        return False


def highlighted_step(app: WizardApp) -> str:
    """The id of the step under the overview's cursor."""
    screen = app.screen
    assert isinstance(screen, OverviewScreen)
    status = screen.highlighted()
    assert status is not None
    return status.step.id


async def run_step(
    pilot: Any, app: WizardApp, step_id: str, answers: dict[str, str], all_ok: bool = True
) -> list[Any]:
    """Open the highlighted step, answer, review, apply, and wait for the checks: all ok unless
    `all_ok` is False. Returns the checks that failed."""
    assert highlighted_step(app) == step_id
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, QuestionsScreen))
    for name, value in answers.items():
        field = app.screen.field(name)
        control = field.control_widget
        assert isinstance(control, Input)
        control.focus()
        control.value = ""
        await pilot.press(*value)
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen | VerifyScreen))
    reviewed = []
    # The step's review, then those of the steps it made outdated (the firewall), each applied.
    while isinstance(app.screen, ReviewScreen):
        reviewed.append(app.screen.plan.step.id)
        await pilot.press("A")
        await wait_until(pilot, lambda: next_review_or_checks(app, reviewed[-1]))
    await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running)
    return await close_checks(pilot, app, all_ok)


def next_review_or_checks(app: WizardApp, reviewed: str) -> bool:
    """After applying `reviewed`: the review of a follow-up, or the checks."""
    screen = app.screen
    if isinstance(screen, ReviewScreen):
        return screen.plan.step.id != reviewed
    return isinstance(screen, VerifyScreen)


async def close_checks(pilot: Any, app: WizardApp, all_ok: bool = True) -> list[Any]:
    """On the finished verify screen: the failed checks (none when `all_ok`), back to the
    overview."""
    failed = [r for r in app.screen.results if r.status == "fail"]
    assert app.screen.results, app.screen
    assert not (all_ok and failed), failed
    await pilot.press("escape")
    await wait_until(pilot, lambda: overview_ready(app))
    return failed


async def select_step(pilot: Any, app: WizardApp, step_id: str) -> None:
    """Move the overview's cursor to the step with the arrow keys."""
    screen = app.screen
    assert isinstance(screen, OverviewScreen)
    order = list(screen.statuses)
    for _ in range(len(order)):
        here = highlighted_step(app)
        if here == step_id:
            return
        await pilot.press("down" if order.index(here) < order.index(step_id) else "up")
    assert highlighted_step(app) == step_id


async def verify_step(pilot: Any, app: WizardApp, step_id: str) -> None:
    """Select the step, run its checks with `v`, and expect every one ok."""
    await select_step(pilot, app, step_id)
    await pilot.press("v")
    await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running)
    await close_checks(pilot, app)


def make_app(wizard, user: str | None) -> WizardApp:
    """The real app on the real engine, with this laptop's files."""
    return WizardApp(
        load_catalog(), StateStore(wizard.state), wizard.options(user), session_factory=Session.open
    )
