"""The TUI by keyboard against a real host: the five day-one steps, quit after two, resume."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from textual.widgets import Input
from textual.worker import WorkerFailed

from screens.app import WizardApp
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.verify import VerifyScreen
from tests.host.harness import DAY_ONE_STEPS
from wizard.catalog import load_catalog
from wizard.session import Session
from wizard.state import StateStore

pytestmark = pytest.mark.host
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
    return isinstance(app.screen, OverviewScreen) and app.screen.highlighted() is not None


def highlighted_step(app: WizardApp) -> str:
    """The id of the step under the overview's cursor."""
    screen = app.screen
    assert isinstance(screen, OverviewScreen)
    status = screen.highlighted()
    assert status is not None
    return status.step.id


async def run_step(pilot: Any, app: WizardApp, step_id: str, answers: dict[str, str]) -> None:
    """Open the highlighted step, answer, review, apply, and wait for all checks ok."""
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
    if isinstance(app.screen, ReviewScreen):
        await pilot.press("A")
    await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running)
    failed = [r for r in app.screen.results if r.status == "fail"]
    assert app.screen.results and not failed, failed
    await pilot.press("escape")
    await wait_until(pilot, lambda: overview_ready(app))


def make_app(wizard, user: str | None) -> WizardApp:
    """The real app on the real engine, with this laptop's files."""
    return WizardApp(
        load_catalog(), StateStore(wizard.state), wizard.options(user), session_factory=Session.open
    )


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
