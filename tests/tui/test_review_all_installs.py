"""Apply all, in a run whose steps bring packages: the first step's question says what the run
installs for all of them, and that install comes before its apply (wizard.workflow)."""

from __future__ import annotations

import dataclasses
from typing import Any

from textual.widgets import Static

from screens.review_all import ConfirmStepModal
from tests.tui.conftest import base_plan, new_file_plan
from tests.tui.test_review_all import open_review_all
from wizard.apply import ApplyOutcome
from wizard.preview import PlannedStep


def texts(screen) -> list[str]:
    return [str(static.render()) for static in screen.query(Static)]


async def test_the_first_question_names_the_runs_packages_installed_before_its_apply(
    make_app, scripted, settle, fake, options, catalog
):
    fake.checks_pass = True
    second = catalog.steps[1].id
    base = base_plan(catalog)  # it installs unattended-upgrades
    other = dataclasses.replace(new_file_plan(catalog, second), missing_packages=("nftables",))
    fake.plans[second] = other
    fake.planned = [PlannedStep(base), PlannedStep(other, ("base",))]

    def install(packages: Any, on_event: Any = None) -> ApplyOutcome:
        fake.calls.append(("install", tuple(packages)))
        return ApplyOutcome("run-packages", "done", ())

    fake.install = install
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_review_all(app, pilot, settle)
        await pilot.press("A")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmStepModal))
        assert "Installs, for the whole run: unattended-upgrades nftables" in texts(app.screen)
        await pilot.press("y")
        await settle(
            pilot,
            until=lambda: (
                isinstance(app.screen, ConfirmStepModal) and app.screen.item.plan.step.id == second
            ),
        )
        # Installed already: the next step's question names no install.
        assert not [t for t in texts(app.screen) if "Installs" in t]
        await pilot.press("s")
        await settle(pilot, until=lambda: not isinstance(app.screen, ConfirmStepModal))
    calls = [c for c in fake.calls if c[0] in ("install", "apply")]
    assert calls[0] == ("install", ("unattended-upgrades", "nftables"))
    assert calls[1][0] == "apply" and calls[1][1].step.id == "base"
    # base's own apply installs nothing more.
    assert calls[1][1].missing_packages == ()
    assert len(calls) == 2
