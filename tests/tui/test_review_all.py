"""Review everything: the steps not applied yet planned as one run, then applied step by step."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console
from textual.widgets import DataTable, Static

from screens.apply import ApplyScreen
from screens.error import ErrorModal
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review_all import ConfirmStepModal, ReviewAllScreen
from screens.verify import VerifyScreen
from screens.widgets.diff_view import DiffView
from tests.tui.conftest import base_plan, firewall_plan, new_file_plan
from wizard.errors import AnswerError
from wizard.preview import PlannedStep

FOLLOW_UP = "base opens port 80: the firewall lets it in"


def plain(renderable) -> str:
    console = Console(width=200, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()


def rows(screen) -> list[list[str]]:
    table = screen.query_one("#steps", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def refused(fake, step) -> bool:
    try:
        fake.validate(step, fake.default_answers(step))
    except AnswerError:
        return True
    return False


async def open_review_all(app, pilot, settle) -> ReviewAllScreen:
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    await pilot.press("R")
    await settle(pilot, until=lambda: isinstance(app.screen, ReviewAllScreen))
    return app.screen


async def test_the_run_lists_each_step_in_order_with_the_follow_up_marked(
    make_app, scripted, settle, fake, options, catalog
):
    fake.planned = [
        PlannedStep(base_plan(catalog)),
        PlannedStep(firewall_plan(catalog), ("base",), FOLLOW_UP, "base"),
    ]
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_review_all(app, pilot, settle)
        # Every step not applied yet, in catalog order, with its default answers: as far as
        # the first whose defaults leave a needed answer empty (tls's acme_server, at least).
        ids = [step.id for step in catalog.steps]
        first_refused = next(i for i in ids if refused(fake, catalog.get(i)))
        assert ids.index(first_refused) <= ids.index("tls")
        previewed = next(c for c in fake.calls if c[0] == "preview")
        assert previewed[1] == ids[: ids.index(first_refused)]
        assert rows(screen)[:6] == [
            ["base", "changes", catalog.get("base").title],
            ["", "CHANGED", "/etc/hostname"],
            ["", "CHANGED", "/etc/hosts"],
            ["", "NEW", "/etc/default/locale"],
            ["firewall", "changes", f"follow-up: {FOLLOW_UP}"],
            ["", "CHANGED", catalog.get("firewall").files[0].dest],
        ]
        assert rows(screen)[6][:2] == [first_refused, "REFUSED"]
        assert ["tls", "REFUSED", "tls.acme_server: an answer is needed"] in rows(screen)
        view = screen.query_one("#diff", DiffView)
        assert "base: " in plain(view.text)
        await pilot.press("down")
        await pilot.pause()
        assert view.change is not None and view.change.dest == "/etc/hostname"
        await pilot.press("down", "down", "down")
        await pilot.pause()
        notes = plain(view.text)
        assert f"Follow-up: {FOLLOW_UP}" in notes
        assert "Planned as base would leave the server" in notes
        # Nothing was applied by reviewing.
        assert not [c for c in fake.calls if c[0] in ("apply", "adopt", "plan")]
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))


async def test_apply_all_asks_before_each_step_and_stops_on_stop(
    make_app, scripted, settle, fake, options, catalog
):
    fake.checks_pass = True
    first, second, third = (s.id for s in catalog.steps[:3])
    fake.plans[second] = new_file_plan(catalog, second)
    fake.plans[third] = new_file_plan(catalog, third)
    app = make_app(options, scripted(fake))
    # Answers typed in base's form and not applied: the run plans with them (the engine fills
    # in the defaults of the rest).
    app.settings.keep_draft(app.host_name, "base", {"timezone": "Europe/Paris"})
    async with app.run_test(size=(80, 24)) as pilot:
        await open_review_all(app, pilot, settle)
        assert fake.previewed_answers["base"] == {"timezone": "Europe/Paris"}
        assert fake.previewed_answers[catalog.steps[1].id] == {}
        await pilot.press("A")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmStepModal))
        assert app.screen.item.plan.step.id == first == "base"
        await pilot.press("y")
        # Each step is planned again, and held to the reviewed plan, before it is asked
        # about; applied as the single-step path does, then its checks.
        await settle(
            pilot,
            until=lambda: (
                isinstance(app.screen, ConfirmStepModal) and app.screen.item.plan.step.id == second
            ),
        )
        assert any(isinstance(s, VerifyScreen) for s in app.screen_stack)
        await pilot.press("n")
        await settle(
            pilot,
            until=lambda: (
                isinstance(app.screen, ConfirmStepModal) and app.screen.item.plan.step.id == third
            ),
        )
        await pilot.press("s")
        await settle(pilot, until=lambda: not isinstance(app.screen, ConfirmStepModal))
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmStepModal)
    applied = [c[1].step.id for c in fake.calls if c[0] == "apply"]
    assert applied == ["base"]
    planned = [c[1:] for c in fake.calls if c[0] == "plan"]
    assert planned == [("base", {"timezone": "Europe/Paris"}), (second, {}), (third, {})]
    assert not [c for c in fake.calls if c[0] == "adopt"]
    assert fake.records["base"].status == "verified"
    assert fake.records[second].status == "pending"
    assert fake.records[third].status == "pending"


async def test_a_step_that_would_now_differ_is_refused_naming_it(
    make_app, scripted, settle, fake, options, catalog
):
    shown = base_plan(catalog)
    fake.planned = [PlannedStep(shown)]
    # When its turn comes the step would write fewer files than the run showed.
    fake.plans["base"] = dataclasses.replace(shown, files=shown.files[:1])
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_review_all(app, pilot, settle)
        await pilot.press("A")
        # Refused before it is even asked about: the fresh plan differs from the reviewed one.
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        assert not any(isinstance(s, ConfirmStepModal) for s in app.screen_stack)
        message = str(app.screen.query_one("#message", Static).visual)
        assert "step base would now write something else" in message
        assert "/etc/hosts" in message
        assert not any(isinstance(s, ApplyScreen) for s in app.screen_stack)
    assert not [c for c in fake.calls if c[0] == "apply"]


async def test_refused_answers_name_the_step_and_open_its_questions(
    make_app, scripted, settle, fake, options, catalog
):
    fake.refusals["base"] = "hostname: 'vps_1' is not a host name"
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_review_all(app, pilot, settle)
        assert rows(screen)[0] == ["base", "REFUSED", "hostname: 'vps_1' is not a host name"]
        summary = str(screen.query_one("#summary", Static).visual)
        assert "the run stops before base" in summary and "0 step(s) planned" in summary
        assert not [c for c in fake.calls if c[0] == "preview"]
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, ReviewAllScreen)
        await pilot.press("o")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        assert app.screen.step.id == "base"


async def test_a_follow_up_that_would_now_differ_stops_the_run_naming_it(
    make_app, scripted, settle, fake, options, catalog
):
    fake.checks_pass = True
    shown = firewall_plan(catalog)
    fake.planned = [
        PlannedStep(base_plan(catalog)),
        PlannedStep(shown, ("base",), FOLLOW_UP, "base"),
    ]
    # After base, the firewall would open other ports than the run showed.
    change = dataclasses.replace(shown.files[0], new=b"tcp dport { 22, 8080 } accept\n")
    fake.followup_plans["base"] = [dataclasses.replace(shown, files=(change,))]
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_review_all(app, pilot, settle)
        await pilot.press("A")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmStepModal))
        await pilot.press("y")
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        message = str(app.screen.query_one("#message", Static).visual)
        assert "step firewall would now write something else" in message
        assert shown.files[0].dest in message
        await pilot.press("escape")
        await settle(pilot, until=lambda: not isinstance(app.screen, ErrorModal))
        assert not isinstance(app.screen, ConfirmStepModal)
    # base was applied; the firewall was neither reviewed nor applied, and no step came next.
    assert [c[1].step.id for c in fake.calls if c[0] == "apply"] == ["base"]
    assert not [c for c in fake.calls if c[0] == "verify"]
