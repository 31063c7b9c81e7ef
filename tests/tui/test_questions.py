"""The questions form: answers checked at the field by the engine's parsers, Next held back."""

from __future__ import annotations

import dataclasses

import pytest
from textual.widgets import Button, Input, Select, Static, Switch

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from wizard.catalog import Catalog
from wizard.errors import AnswerError
from wizard.steps import Question


async def open_base_form(app, pilot, settle) -> QuestionsScreen:
    """Connect, then open the first step (base) from the overview."""
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    await pilot.press("enter")
    await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
    return app.screen


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("vps.example.org\nPermitRootLogin yes", "single line"),
        ("vps example.org", "not a valid label"),
        ("vps.example.org;reboot", "not a valid label"),
    ],
)
async def test_bad_host_name_is_refused_at_the_field(
    make_app, scripted, settle, fake, options, typed, reason
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_base_form(app, pilot, settle)
        field = form.field("fqdn")
        next_button = form.query_one("#next", Button)
        assert field.valid and not next_button.disabled
        field.query_one(Input).value = typed
        await pilot.pause()
        assert not field.valid
        assert reason in field.error
        shown = field.query_one(".reason", Static)
        assert reason in str(shown.visual)
        assert shown.display and field.has_class("-invalid")
        assert next_button.disabled
        # Next refuses even when pressed through its key.
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, QuestionsScreen)
        assert not [c for c in fake.calls if c[0] == "plan"]
        # Fixed, the field is accepted and Next comes back.
        field.query_one(Input).value = "vps.example.org"
        await pilot.pause()
        assert field.valid and not shown.display
        assert not next_button.disabled


async def test_typing_a_space_is_refused_as_you_type(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_base_form(app, pilot, settle)
        field = form.field("fqdn")
        field.query_one(Input).value = ""
        await pilot.pause()
        assert field.error == "an answer is needed"
        await pilot.click("#q-fqdn")
        await pilot.press(*"vps exa.org")
        assert "not a valid label" in field.error
        assert form.query_one("#next", Button).disabled


async def test_one_control_per_question_type(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_base_form(app, pilot, settle)
        assert isinstance(form.field("fqdn").control_widget, Input)
        assert isinstance(form.field("timezone").control_widget, Input)
        assert isinstance(form.field("locale").control_widget, Select)
        assert isinstance(form.field("upgrade").control_widget, Switch)
        help_text = str(form.field("fqdn").query_one(".help", Static).visual)
        assert "needs" in help_text and "dot" in help_text


async def test_next_sends_the_raw_answers_and_opens_the_review(
    make_app, scripted, settle, fake, options
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_base_form(app, pilot, settle)
        form.field("timezone").query_one(Input).value = "Europe/Paris"
        form.field("upgrade").query_one(Switch).value = False
        await pilot.pause()
        await pilot.click("#next")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
    (plan_call,) = [c for c in fake.calls if c[0] == "plan"]
    _, step_id, raw = plan_call
    assert step_id == "base"
    assert raw["timezone"] == "Europe/Paris"
    assert raw["upgrade"] is False
    assert raw["locale"] == "C.UTF-8"


async def test_engine_refusal_is_shown_at_its_field(make_app, scripted, settle, fake, options):
    fake.plan_error = AnswerError(
        "base.fqdn: vps.example.org resolves to another server", "check the DNS record"
    )
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_base_form(app, pilot, settle)
        await pilot.click("#next")
        await settle(pilot, until=lambda: not form.field("fqdn").valid)
        assert isinstance(app.screen, QuestionsScreen)
        field = form.field("fqdn")
        assert "resolves to another server" in field.error
        assert "check the DNS record" in field.error
        assert form.query_one("#next", Button).disabled
        assert not form.has_class("-busy")


async def test_secret_question_is_a_password_input(
    make_app, scripted, settle, catalog, fake_session_class, options
):
    base = catalog.get("base")
    secret = Question(
        "db_password", "secret", "Database password", "12 characters or more.", secret=True
    )
    with_secret = dataclasses.replace(base, questions=(*base.questions, secret))
    steps = tuple(with_secret if s.id == "base" else s for s in catalog.steps)
    fake = fake_session_class(Catalog(steps))
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_base_form(app, pilot, settle)
        password = form.field("db_password").query_one(Input)
        assert password.password
        password.value = "short"
        await pilot.pause()
        assert "12 characters" in form.field("db_password").error
        assert form.query_one("#next", Button).disabled


async def test_reopened_step_shows_list_answers_as_typed_and_accepts_them(
    make_app, scripted, settle, fake, options
):
    # The session hands back the answers last applied: lists are tuples there.
    step = fake.catalog.get("firewall")
    previous = {"extra_ports": ("8080/tcp", "51820/udp"), "blocked": ("203.0.113.7",)}
    fake.default_answers = lambda s: {**fake.__class__.default_answers(fake, s), **previous}
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        app.post_message(OverviewScreen.StepChosen(step))
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        form = app.screen
        assert form.field("extra_ports").query_one(Input).value == "8080/tcp, 51820/udp"
        assert form.field("blocked").query_one(Input).value == "203.0.113.7"
        assert all(f.valid for f in form.fields)
        assert not form.query_one("#next", Button).disabled
