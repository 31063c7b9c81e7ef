"""Every screen is usable in an 80x24 terminal: its buttons and key rows are on screen."""

from __future__ import annotations

from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import DataTable, Footer
from textual.widgets.data_table import ColumnKey

from screens.apply import ApplyScreen
from screens.connect import ConnectScreen
from screens.error import ErrorModal
from screens.help import HelpModal
from screens.hostkey import HostKeyModal
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.skipped import SkipConfirmModal
from screens.verify import VerifyScreen
from wizard.errors import ApplyFailed, UnknownHostKey

TERMINAL = Region(0, 0, 80, 24)


def assert_on_screen(app, *selectors: str) -> None:
    for selector in selectors:
        widget = app.screen.query_one(selector, Widget)
        region = widget.region
        assert region.area > 0, f"{selector} is not shown on {type(app.screen).__name__}"
        assert TERMINAL.contains_region(region), f"{selector} is off screen: {region}"


async def test_every_screen_fits_80x24(make_app, scripted, settle, fake, options):
    key = UnknownHostKey("vps.example.org", "ssh-ed25519", "SHA256:abc", "line")
    fake.apply_error = ApplyFailed("validation failed", "fix it")
    app = make_app(None, scripted(key, fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        assert_on_screen(app, "#host", "#connect", Footer)
        await pilot.click("#host")
        await pilot.press(*"vps.example.org")
        await pilot.click("#connect")
        await settle(pilot, until=lambda: isinstance(app.screen, HostKeyModal))
        assert_on_screen(app, "#fingerprint", "#yes", "#no")
        await pilot.press("y")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        assert_on_screen(app, "#steps", "#help-panel", Footer)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        assert_on_screen(app, "#field-fqdn", "#next", "#back", Footer)
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        assert_on_screen(app, "#summary", "#files", "#diff", "#apply", Footer)
        await pilot.press("s")
        await pilot.pause()
        assert_on_screen(app, "#old", "#new")
        await pilot.press("A")
        await settle(
            pilot,
            until=lambda: isinstance(app.screen, ApplyScreen) and app.screen.has_class("-failed"),
        )
        assert_on_screen(app, "#log", "#failure-message", "#back", Footer)
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("v")
        await settle(
            pilot, until=lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running
        )
        assert_on_screen(app, "#results", "#details-panel", "#back", Footer)
        app.push_screen(ErrorModal("Title", "a message " * 30, "a hint"))
        await pilot.pause()
        assert_on_screen(app, "#message", "#hint", "#ok")


async def test_a_120x40_terminal_lists_every_step_with_its_whole_description(
    make_app, scripted, settle, fake, options
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.pause()
        table = app.screen.query_one("#steps", DataTable)
        # Every step in view at once, without scrolling.
        assert table.region.height >= table.row_count + 1
        assert table.max_scroll_y == 0
        # The description column takes the rest of the width (74 of 120 columns).
        longest = max(len(step.title) for step in fake.catalog.steps)
        assert table.columns[ColumnKey("title")].width >= min(longest, 74)
        assert Region(0, 0, 120, 40).contains_region(table.region)
        # Narrowed to 80 columns, the description goes back to its share.
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert table.columns[ColumnKey("title")].width == 34
        assert_on_screen(app, "#steps", "#help-panel", Footer)


async def test_the_help_and_the_skip_question_fit_80x24(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("f1")
        await settle(pilot, until=lambda: isinstance(app.screen, HelpModal))
        # The keys first; the step's help below them scrolls.
        assert_on_screen(app, "#keys", "#app-keys", "#close")
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("space", "A")
        await settle(pilot, until=lambda: isinstance(app.screen, SkipConfirmModal))
        assert_on_screen(app, "#title", "#meaning", "#yes", "#no")
