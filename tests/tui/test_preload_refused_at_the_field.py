"""The engine's refusal of HSTS preload with the tls step's self-signed certificate reaches the
hsts form at its preload field, with the reason and what to do; nothing is planned."""

from __future__ import annotations

import pytest
from textual.widgets import Switch

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from wizard.answers import check_refusals
from wizard.errors import AnswerError
from wizard.state import StepRecord


def engine_refusal(catalog) -> AnswerError:
    """The AnswerError Session.validate raises for these answers (the same rule, evaluated)."""
    context = {"answers": {"preload": True}, "steps": {"tls": {"source": "self-signed"}}}
    with pytest.raises(AnswerError) as refused:
        check_refusals(catalog.get("hsts"), context)
    return refused.value


async def test_preload_with_self_signed_is_refused_at_the_preload_field(
    make_app, scripted, settle, fake, options, catalog
):
    order = catalog.ids()
    for step_id in order[: order.index("hsts")]:
        fake.records[step_id] = StepRecord(step_id, "verified", checked=1.0)
    fake.plan_error = engine_refusal(catalog)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        form = app.screen
        assert form.step.id == "hsts"
        assert isinstance(form.field("preload").control_widget, Switch)
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: bool(form.field("preload").error))
        error = form.field("preload").error
        assert "preload needs a certificate browsers trust" in error
        assert "self-signed" in error and "preload = false" in error
        assert isinstance(app.screen, QuestionsScreen)
