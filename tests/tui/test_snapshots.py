"""Snapshots of the main screens at 80x24 and 120x40 (SVG baselines in __snapshots__/).

Each screen is reached the way a user reaches it, with the fake session's fixed values: no
clock, no random, no animation left running when the picture is taken. The steps' long help
texts are replaced by a fixed one, so that editing a step's help does not change the pictures
(their titles and questions stay: a change there is one the user sees). After a deliberate
change of a screen, look at the new pictures, then accept them with
`pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import dataclasses

import pytest

from screens.app import WizardApp
from screens.apply import ApplyScreen
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.verify import VerifyScreen
from tests.tui.conftest import FakeSession, ScriptedFactory
from wizard.catalog import Catalog
from wizard.errors import ApplyFailed

STEP_HELP = (
    "What the step does, in a paragraph or two of Markdown: the files it writes, the "
    "services it touches, and the chapters of the series it modernizes.\n\nA second "
    "paragraph, as most steps have one."
)
QUESTION_HELP = "One line of help under the question."


def frozen(catalog: Catalog) -> Catalog:
    """The shipped steps with fixed help texts."""
    return Catalog(
        tuple(
            dataclasses.replace(
                step,
                help=STEP_HELP,
                questions=tuple(dataclasses.replace(q, help=QUESTION_HELP) for q in step.questions),
            )
            for step in catalog.steps
        )
    )


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def _overview(pilot, settle) -> None:
    await settle(pilot, until=lambda: isinstance(pilot.app.screen, OverviewScreen))


async def _questions(pilot, settle) -> None:
    await _overview(pilot, settle)
    await pilot.press("enter")
    await settle(pilot, until=lambda: isinstance(pilot.app.screen, QuestionsScreen))


async def _review(pilot, settle) -> None:
    await _questions(pilot, settle)
    await pilot.press("ctrl+n")
    await settle(pilot, until=lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.press("down")


async def _side_by_side(pilot, settle) -> None:
    await _review(pilot, settle)
    await pilot.press("s")


async def _apply(pilot, settle) -> None:
    # A failed apply: the bar has stopped and the failure is shown (a running one pulses).
    await _review(pilot, settle)
    await pilot.press("A")
    await settle(
        pilot,
        until=lambda: (
            isinstance(pilot.app.screen, ApplyScreen) and pilot.app.screen.has_class("-failed")
        ),
    )


async def _verify(pilot, settle) -> None:
    await _overview(pilot, settle)
    await pilot.press("v")
    await settle(
        pilot,
        until=lambda: isinstance(pilot.app.screen, VerifyScreen) and not pilot.app.screen.running,
    )
    await pilot.press("down", "down")


SCREENS = {
    "overview": _overview,
    "questions": _questions,
    "review": _review,
    "review-side-by-side": _side_by_side,
    "apply": _apply,
    "verify": _verify,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen_snapshot(snap_compare, catalog, store, settle, options, name, size):
    steps = frozen(catalog)
    fake = FakeSession(steps)
    fake.apply_error = ApplyFailed(
        "visudo refused /etc/sudoers.d/90-vps-wizard: syntax error near line 2",
        "the server was rolled back; check the user name and apply again",
    )
    app = WizardApp(steps, store, options, session_factory=ScriptedFactory(fake))

    async def run_before(pilot) -> None:
        await SCREENS[name](pilot, settle)
        # Toasts (timed) and the cursor's blink are no part of the picture.
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
