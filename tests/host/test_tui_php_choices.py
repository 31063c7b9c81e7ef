"""On a real Debian 12 host, the web step's PHP dropdown offers what the server's apt has."""

from __future__ import annotations

import dataclasses

import pytest
from textual.widgets import Select

from screens.app import WizardApp
from screens.questions import QuestionsScreen
from tests.host.pilot import overview_ready, select_step, wait_until
from wizard.catalog import load_catalog
from wizard.session import Session
from wizard.state import StateStore

pytestmark = pytest.mark.host


async def test_the_php_dropdown_offers_the_release_s_php(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    listed = fresh_testhost.exec(
        "apt-cache pkgnames php | sed -n 's/^php\\([0-9.]*\\)-fpm$/\\1/p' | sort -V"
    ).stdout.split()
    catalog = load_catalog()
    # web alone, its requirement (base) lifted: only its form is looked at, nothing applied.
    web = dataclasses.replace(catalog.get("web"), requires=())
    app = WizardApp(
        dataclasses.replace(catalog, steps=(web,)),
        StateStore(wizard.state),
        wizard.options("root"),
        session_factory=Session.open,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 60)
        await select_step(pilot, app, "web")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QuestionsScreen), 60)
        select = app.screen.field("php_version").control_widget
        assert isinstance(select, Select)
        offered = [str(value) for _, value in select._options if value is not Select.BLANK]
        chosen = app.screen.field("php_version").value
        await pilot.press("escape")
        await pilot.press("q")
    # Debian 12's apt has php8.2-fpm only (its lists updated when the image was built).
    assert listed == ["8.2"], listed
    assert offered == ["8.2"], offered
    assert chosen == "8.2"
