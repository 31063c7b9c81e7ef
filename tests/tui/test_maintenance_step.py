"""The maintenance step in the TUI: its form opens from the overview with its questions, and
the review shows the restart of exactly the services the facts found on a deleted library."""

from __future__ import annotations

from textual.widgets import Input, RichLog

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.widgets.diff_view import DiffView
from wizard.answers import validate_answers
from wizard.plan import CommandChange, Plan
from wizard.render import render_shell
from wizard.state import StepRecord

STEP = "maintenance"


def restart_plan(catalog) -> Plan:
    """The step's real plan when restart is answered yes and PHP-FPM and nginx map a deleted
    library: the restart command as the engine renders it from the facts."""
    step = catalog.get(STEP)
    answers = validate_answers(
        step,
        {
            "restart": True,
            "disk_max": 90,
            "inodes_max": 90,
            "web_permissions": False,
            "images": False,
        },
    )
    command = next(c for c in step.commands if "systemctl restart" in str(c.run))
    facts = {"stale_services": ("nginx.service", "php8.2-fpm.service")}
    context = {"answers": answers.values, "facts": facts, "steps": {}}
    run = render_shell(step, str(command.run), context)
    return Plan(
        step, answers, (), (CommandChange(command, run, None, None, True),), (), (), step.packages
    )


async def test_maintenance_form_and_the_restart_of_the_listed_services_in_the_review(
    make_app, scripted, settle, fake, options, catalog
):
    order = [s.id for s in catalog.steps]
    for step_id in order[: order.index(STEP)]:
        fake.records[step_id] = StepRecord(step_id, "verified")
    fake.plans[STEP] = restart_plan(catalog)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        assert app.screen.highlighted().step.id == STEP
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        form = app.screen
        assert [field.key for field in form.shown_fields] == [
            "restart",
            "disk_max",
            "inodes_max",
            "web_permissions",
            "images",
        ]
        for named in ("libssl", "26", "46", "59", "9"):
            assert named in form.step.help
        # The thresholds typed (the fake session proposes no integer).
        for name in ("disk_max", "inodes_max"):
            control = form.field(name).control_widget
            assert isinstance(control, Input)
            control.focus()
            await pilot.press(*"90")
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        assert app.screen.plan.step.id == STEP
        await pilot.pause()
        await pilot.pause()
        shown = "\n".join(
            line.text
            for line in app.screen.query_one(DiffView).query_one("#unified", RichLog).lines
        )
        assert "systemctl restart -- nginx.service php8.2-fpm.service" in shown, shown
