"""`vps-wizard HOST` reads the steps after its first screen is drawn: a step file it refuses is
still reported before anything connects, on the TUI's error screen, and Connect reads the files
again once the user has fixed them."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button

from screens.app import WizardApp
from screens.connect import ConnectScreen
from screens.error import ErrorModal
from screens.overview import OverviewScreen
from wizard import catalog as catalog_module

# A user's own step with a typo in a field name: refused with its line, never half-loaded.
BROKEN_STEP = """\
id = "motd"
order = 900
title = "A message of the day"
chapters = "1"
help = "Writes /etc/motd."
requirs = ["base"]
"""


async def test_a_refused_step_file_stops_the_connect_until_it_is_fixed(
    store, options, scripted, fake, settle, tmp_path, monkeypatch
):
    user_steps = tmp_path / "steps"
    step_file = user_steps / "motd" / "step.toml"
    step_file.parent.mkdir(parents=True)
    step_file.write_text(BROKEN_STEP)
    monkeypatch.setattr(catalog_module, "user_steps_dir", lambda: user_steps)
    factory = scripted(fake)
    # No catalog given: the app reads the steps itself, as `vps-wizard HOST` does.
    app = WizardApp(None, store, options, session_factory=factory)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        modal = app.screen
        assert isinstance(modal, ErrorModal)
        assert modal.error_title == "A step definition is refused"
        assert f"{step_file}:6" in modal.message and "requirs" in modal.message
        assert "fix those lines, or remove the folder" in modal.hint
        assert factory.options == []  # nothing was connected
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        assert not app.screen.has_class("-busy")  # the form can be used again

        step_file.write_text(BROKEN_STEP.replace("requirs", "requires"))
        await pilot.click(Button)
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    assert len(factory.options) == 1
    assert "motd" in app.catalog.ids()


def test_the_command_line_still_refuses_it_before_anything(tmp_path: Path, monkeypatch, capsys):
    """The headless commands read the steps first, as before: `steps` says what is wrong."""
    from wizard.cli import main

    user_steps = tmp_path / "steps"
    (user_steps / "motd").mkdir(parents=True)
    (user_steps / "motd" / "step.toml").write_text(BROKEN_STEP)
    monkeypatch.setattr(catalog_module, "user_steps_dir", lambda: user_steps)
    assert main(["steps"]) == 1
    assert "requirs" in capsys.readouterr().err
