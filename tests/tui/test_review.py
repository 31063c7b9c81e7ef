"""The review: files approved or skipped, unified or side by side, and Apply."""

from __future__ import annotations

from textual.widgets import Button, DataTable, RichLog

from screens.apply import ApplyScreen
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.skipped import SkipConfirmModal
from screens.verify import VerifyScreen
from screens.widgets.diff_view import DiffView


async def open_review(app, pilot, settle) -> ReviewScreen:
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    await pilot.press("enter")
    await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
    await pilot.press("ctrl+n")
    await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
    return app.screen


def log_text(log: RichLog) -> str:
    return "\n".join(line.text for line in log.lines)


async def test_space_skips_and_approves_the_highlighted_file(
    make_app, scripted, settle, fake, options
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        review = await open_review(app, pilot, settle)
        table = review.query_one("#files", DataTable)
        await pilot.press("down")  # /etc/hosts
        assert review.highlighted().dest == "/etc/hosts"
        await pilot.press("space")
        hosts = next(f for f in review.plan.files if f.dest == "/etc/hosts")
        assert not hosts.approved
        assert str(table.get_cell("/etc/hosts", "approval")) == "skip"
        assert "1 file(s) to update" in review.plan.summary()
        await pilot.press("space")
        hosts = next(f for f in review.plan.files if f.dest == "/etc/hosts")
        assert hosts.approved
        assert str(table.get_cell("/etc/hosts", "approval")) == "apply"


async def test_unified_and_side_by_side(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        review = await open_review(app, pilot, settle)
        view = review.query_one("#diff", DiffView)
        await pilot.press("down")  # /etc/hosts
        await pilot.pause()
        unified = view.query_one("#unified", RichLog)
        assert unified.display and not view.query_one("#sides").display
        assert "-127.0.1.1\tdebian" in log_text(unified).replace("    ", "\t") or (
            "-127.0.1.1" in log_text(unified)
        )
        await pilot.press("s")
        await pilot.pause()
        assert view.side_by_side
        assert view.query_one("#sides").display and not unified.display
        old, new = (
            log_text(view.query_one("#old", RichLog)),
            log_text(view.query_one("#new", RichLog)),
        )
        assert "debian" in old and "debian" not in new
        assert "vps.example.org" in new and "vps.example.org" not in old
        # Aligned: both panes have as many lines.
        assert len(view.query_one("#old", RichLog).lines) == len(
            view.query_one("#new", RichLog).lines
        )
        await pilot.press("s")
        await pilot.pause()
        assert not view.side_by_side and unified.display


async def test_commands_row_lists_packages_and_commands(make_app, scripted, settle, fake, options):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        review = await open_review(app, pilot, settle)
        table = review.query_one("#files", DataTable)
        table.move_cursor(row=table.row_count - 1)
        await pilot.pause()
        await pilot.pause()
        text = log_text(review.query_one("#unified", RichLog))
        assert "unattended-upgrades" in text
        assert "runs" in text and "skipped" in text
        await pilot.press("space")  # refused: commands are not files
        assert all(f.approved for f in review.plan.files)


async def test_apply_sends_the_approved_plan_then_verifies(
    make_app, scripted, settle, fake, options
):
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_review(app, pilot, settle)
        await pilot.press("space")  # skip /etc/hostname
        await pilot.press("A")
        # Skipping is confirmed first (tests/tui/test_skipped_files.py).
        await settle(pilot, until=lambda: isinstance(app.screen, SkipConfirmModal))
        await pilot.press("y")
        await settle(pilot, until=lambda: isinstance(app.screen, VerifyScreen))
        # The apply screen was left for verify; the overview is under it.
        assert [type(s) for s in app.screen_stack[-2:]] == [OverviewScreen, VerifyScreen]
    (apply_call,) = [c for c in fake.calls if c[0] == "apply"]
    skipped = next(f for f in apply_call[1].files if f.dest == "/etc/hostname")
    assert not skipped.approved
    assert ("verify", ["base"]) in fake.calls


async def test_apply_button_disabled_when_everything_is_skipped(
    make_app, scripted, settle, fake, options
):
    fake.plans["base"] = fake.plans["base"].__class__(
        **{**fake.plans["base"].__dict__, "commands": (), "missing_packages": ()}
    )
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        review = await open_review(app, pilot, settle)
        for _ in range(3):
            await pilot.press("space", "down")
        assert not review.plan.has_changes
        assert review.query_one("#apply", Button).disabled
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert not [c for c in fake.calls if c[0] == "apply"]


async def test_nothing_to_change_goes_straight_to_verify(make_app, scripted, settle, fake, options):
    del fake.plans["base"]  # the fake then returns a real plan with no changes
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, VerifyScreen))
        assert "nothing to change" in app.screen.heading
        assert not any(isinstance(s, (ReviewScreen, ApplyScreen)) for s in app.screen_stack)
    assert not [c for c in fake.calls if c[0] == "apply"]
    # The server already matched: the step is recorded, so the overview moves on.
    assert ("adopt", "base") in fake.calls
