"""Help, focus, the command palette, the saved theme, quitting, the last apply's log, and
answers typed but not applied kept across a quit."""

from __future__ import annotations

from textual.widgets import Button, DataTable, Input, RichLog, Static

from screens.applylog import ApplyLogScreen
from screens.connect import ConnectScreen
from screens.error import ErrorModal
from screens.help import HelpModal
from screens.hostkey import HostKeyModal
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.verify import VerifyScreen
from tests.tui.test_connect import unknown_key
from wizard.errors import WizardError
from wizard.state import StepRecord


async def overview(app, pilot, settle) -> OverviewScreen:
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    return app.screen


async def test_f1_and_question_mark_show_the_steps_help_and_the_keys(
    make_app, scripted, settle, fake, options
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(app, pilot, settle)
        for key in ("f1", "question_mark"):
            await pilot.press(key)
            await settle(pilot, until=lambda: isinstance(app.screen, HelpModal))
            help_screen = app.screen
            assert help_screen.step.id == "base"
            assert "Base system" in str(help_screen.query_one("#step-title", Static).visual)
            keys = str(help_screen.query_one("#keys", Static).visual)
            assert "Open step" in keys and "Verify step" in keys and "Last apply log" in keys
            everywhere = str(help_screen.query_one("#app-keys", Static).visual)
            assert "ctrl+q" in everywhere and "ctrl+p" in everywhere
            await pilot.press("escape")
            await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
            # The table has the focus again.
            assert isinstance(app.focused, DataTable)
        # In a form, ? is typed; F1 opens the help of the step.
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        field = app.screen.field("fqdn").query_one(Input)
        field.value = ""
        await pilot.press("question_mark")
        assert field.value == "?" and isinstance(app.screen, QuestionsScreen)
        await pilot.press("f1")
        await settle(pilot, until=lambda: isinstance(app.screen, HelpModal))
        assert "Next" in str(app.screen.query_one("#keys", Static).visual)


async def test_focus_is_back_after_a_dialog_and_stands_out(make_app, scripted, settle, options):
    app = make_app(options, scripted(unknown_key(), WizardError("refused", "is sshd running?")))
    async with app.run_test(size=(80, 24)) as pilot:
        # Trusted, then refused: the form was locked while connecting.
        await settle(pilot, until=lambda: isinstance(app.screen, HostKeyModal))
        await pilot.press("y")
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        await pilot.pause()
        # A field has the focus, not the form's scrolling container (which shows nothing).
        assert isinstance(app.focused, Input | Button) and app.focused.screen is app.screen
        # A focused field is set apart by more than a shade of grey.
        host, user = app.screen.query_one("#host", Input), app.screen.query_one("#user", Input)
        host.focus()
        await pilot.pause()
        lit, plain = host.styles.background, user.styles.background
        assert sum(abs(a - b) for a, b in zip(lit.rgb, plain.rgb, strict=True)) > 60


async def test_the_palette_offers_the_wizards_own_actions(
    make_app, scripted, settle, fake, options
):
    fake.records["base"] = StepRecord("base", "applied")
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(app, pilot, settle)
        commands = {c.title: c for c in app.get_system_commands(screen)}
        assert "Verify all" in commands and "Go to step: admin-user" in commands
        # Blocked steps are not offered; no apply yet, so no log to show.
        assert "Go to step: ssh-hardening" not in commands
        assert "Show the last apply's log" not in commands
        commands["Go to step: admin-user"].callback()
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        assert app.screen.step.id == "admin-user"
        await pilot.press("escape")
        await overview(app, pilot, settle)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Verify all"].callback()
        await settle(
            pilot, until=lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running
        )
        assert app.screen.step_ids == ("base",)
        await pilot.press("escape")
        await overview(app, pilot, settle)
        # Through the palette itself, on the review: side by side.
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"side by side")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        assert app.screen.query_one("#diff").side_by_side


async def test_the_chosen_theme_is_kept_for_the_next_start(
    make_app, scripted, settle, fake, fake_session_class, options
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(app, pilot, settle)
        assert app.theme != "nord"
        app.theme = "nord"
        await pilot.pause()
    again = make_app(options, scripted(fake_session_class(fake.catalog)))
    async with again.run_test(size=(80, 24)) as pilot:
        await overview(again, pilot, settle)
        assert again.theme == "nord"


async def test_q_types_in_a_form_and_ctrl_q_quits_there(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(app, pilot, settle)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        field = app.screen.field("fqdn").query_one(Input)
        field.value = "vps.example.or"
        await pilot.press("end", "q")
        assert field.value == "vps.example.orq" and app.is_running
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_the_last_apply_log_opens_again_after_it_ended(
    make_app, scripted, settle, fake, options
):
    fake.apply_events = [
        "installing unattended-upgrades",
        "Setting up unattended-upgrades (2.9.1+nmu3) ...",
        "writing /etc/hostname",
    ]
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(app, pilot, settle)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("A")
        await settle(
            pilot, until=lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running
        )
        await pilot.press("escape")
        await overview(app, pilot, settle)
        await pilot.press("l")
        await settle(pilot, until=lambda: isinstance(app.screen, ApplyLogScreen))
        log = "\n".join(line.text for line in app.screen.query_one("#log", RichLog).lines)
        assert "Setting up unattended-upgrades (2.9.1+nmu3) ..." in log
        assert "writing /etc/hostname" in log
        assert "applied (run run-1)" in str(app.screen.query_one("#status", Static).visual)
        await pilot.press("escape")
        await overview(app, pilot, settle)


async def test_typed_answers_survive_a_quit_before_apply(
    make_app, scripted, settle, fake, fake_session_class, options, store
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(app, pilot, settle)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        app.screen.field("fqdn").query_one(Input).value = "web1.example.org"
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
    second = fake_session_class(fake.catalog)
    again = make_app(options, scripted(second))
    async with again.run_test(size=(80, 24)) as pilot:
        await overview(again, pilot, settle)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(again.screen, QuestionsScreen))
        assert again.screen.field("fqdn").query_one(Input).value == "web1.example.org"
        # Applied with them: the next visit starts from the applied answers again.
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(again.screen, ReviewScreen))
        assert second.calls[-1][:2] == ("plan", "base")
        assert second.calls[-1][2]["fqdn"] == "web1.example.org"
        await pilot.press("A")
        await settle(
            pilot, until=lambda: isinstance(again.screen, VerifyScreen) and not again.screen.running
        )
        assert again.settings.draft(again.host_name, "base") == {}
