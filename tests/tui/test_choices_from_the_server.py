"""A choice that depends on the server offers only what the server has: the web step's PHP
version lists the versions the server's apt can install (facts.php_versions)."""

from __future__ import annotations

import dataclasses

from textual.widgets import Select

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from wizard.catalog import Catalog
from wizard.choices import offered_catalog
from wizard.state import StepRecord


async def open_web_form(app, pilot, settle) -> QuestionsScreen:
    """Connect, move the overview's cursor to the web step by keyboard, open its form."""
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    for _ in range(len(app.screen.statuses)):
        if app.screen.highlighted().step.id == "web":
            break
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
    return app.screen


def php_options(form: QuestionsScreen) -> list[str]:
    """The PHP versions the dropdown offers, in its order."""
    select = form.field("php_version").control_widget
    assert isinstance(select, Select)
    return [str(value) for _, value in select._options if value is not Select.BLANK]


async def test_the_php_dropdown_lists_only_the_versions_the_server_has(
    catalog: Catalog, fake_session_class, make_app, scripted, settle, options
):
    # A Debian 12 server whose apt offers php8.2-fpm only: 8.3 and 8.4 are not offered.
    web = dataclasses.replace(catalog.get("web"), requires=())
    served = offered_catalog(
        dataclasses.replace(catalog, steps=(catalog.get("base"), web)),
        {"php_versions": ("8.2",)},
    )
    fake = fake_session_class(served)
    fake.records["base"] = StepRecord("base", "verified")
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_web_form(app, pilot, settle)
        assert php_options(form) == ["8.2"]
        assert form.field("php_version").value == "8.2"
        assert form.field("php_version").valid


async def test_without_apt_lists_the_steps_own_choices_stand(
    catalog: Catalog, fake_session_class, make_app, scripted, settle, options
):
    # apt never updated: its cache names no php*-fpm; the step's static list is offered and
    # its refusals (the release's own version) still apply at Next.
    web = dataclasses.replace(catalog.get("web"), requires=())
    served = offered_catalog(
        dataclasses.replace(catalog, steps=(catalog.get("base"), web)), {"php_versions": ()}
    )
    fake = fake_session_class(served)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_web_form(app, pilot, settle)
        assert php_options(form) == ["8.2", "8.3", "8.4"]
