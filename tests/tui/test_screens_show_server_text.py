"""Server text in the TUI: escape sequences shown visibly, never sent; markup in it inert.

Each test puts an OSC title and an OSC 52 clipboard sequence (and Rich markup) where the server
controls the text, then looks at what the screen rendered: every segment Textual would write
to the terminal, after the app's line filters.
"""

from __future__ import annotations

import dataclasses

from textual.widgets import DataTable

from screens.apply import ApplyScreen
from screens.error import ErrorModal
from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.verify import VerifyScreen
from tests.tui.conftest import sample_facts
from wizard.checks.base import CheckResult
from wizard.errors import WizardError
from wizard.serverfiles import RemoteFile
from wizard.state import StepRecord

TITLE = "\x1b]0;owned\x07"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
TITLE_SHOWN = "\\x1b]0;owned\\x07"
CLIPBOARD_SHOWN = "\\x1b]52;c;cm0gLXJmIH4=\\x07"
MARKUP = "[bold]loud[/bold] [link=https://evil.example]click[/link]"
SIZE = (160, 48)


def rendered(app) -> tuple[str, list]:
    """The screen's lines as they go to the terminal (after the line filters), one text per
    line joined by newlines, and every segment."""
    strips = app.screen._compositor.render_strips()
    lines = [[segment for segment in strip if segment.control is None] for strip in strips]
    text = "\n".join("".join(segment.text for segment in line) for line in lines)
    return text, [segment for line in lines for segment in line]


def assert_nothing_raw(app) -> str:
    """No ESC, BEL or C1 byte and no hyperlink on screen; the screen's text, for more checks."""
    text, segments = rendered(app)
    for raw in ("\x1b", "\x07", "\x9b", "\x9d"):
        assert raw not in text
    assert not [s for s in segments if s.style is not None and s.style.link]
    return text


def hostile_hosts_plan(fake):
    """The base plan with /etc/hosts on the server holding both sequences and markup."""
    plan = fake.plans["base"]
    old = f"127.0.0.1\tlocalhost {TITLE}\n127.0.1.1\tdebian {CLIPBOARD}\n# {MARKUP}\n"
    files = tuple(
        dataclasses.replace(
            change, old=RemoteFile("/etc/hosts", old.encode(), "0644", "root", "root")
        )
        if change.dest == "/etc/hosts"
        else change
        for change in plan.files
    )
    return dataclasses.replace(plan, files=files)


async def open_review(app, pilot, settle) -> ReviewScreen:
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    await pilot.press("enter")
    await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
    await pilot.press("ctrl+n")
    await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
    return app.screen


async def test_a_diff_shows_the_sequences_of_a_server_file_unified_and_side_by_side(
    make_app, scripted, settle, fake, options
):
    fake.plans["base"] = hostile_hosts_plan(fake)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=SIZE) as pilot:
        review = await open_review(app, pilot, settle)
        await pilot.press("down")  # /etc/hosts
        assert review.highlighted().dest == "/etc/hosts"
        await pilot.pause()
        await pilot.pause()
        text = assert_nothing_raw(app)
        assert f"localhost {TITLE_SHOWN}" in text and f"debian {CLIPBOARD_SHOWN}" in text
        assert f"-# {MARKUP}" in text
        await pilot.press("s")
        await pilot.pause()
        await pilot.pause()
        text = assert_nothing_raw(app)
        assert f"localhost {TITLE_SHOWN}" in text and f"debian {CLIPBOARD_SHOWN}" in text
        assert f"# {MARKUP}" in text


async def test_the_overview_shows_os_release_the_state_messages_and_notices_visibly(
    make_app, scripted, settle, fake, options
):
    fake.facts = sample_facts(os_pretty=f"Debian GNU/Linux 12 {TITLE}{MARKUP}")
    fake.notices.append(f"run 1 (base) was undone {CLIPBOARD}")
    fake.records["base"] = StepRecord("base", "verified")
    # The server's state copy may quote the server's output in a message (admin-user is the
    # next step, so its help is shown).
    fake.records["admin-user"] = StepRecord(
        "admin-user",
        "failed",
        message=f"visudo: {TITLE} [click](https://evil.example) <b>x</b> &#x1b; https://evil.example",
    )
    app = make_app(options, scripted(fake))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.pause()
        text = assert_nothing_raw(app)
        assert f"Debian GNU/Linux 12 {TITLE_SHOWN}[bold]loud[/bold]" in text
        assert f"was undone {CLIPBOARD_SHOWN}" in text
        assert f"visudo: {TITLE_SHOWN} [click](https://evil.example) <b>x</b> &#x1b;" in text


async def test_apply_log_and_failure_show_the_server_output_visibly(
    make_app, scripted, settle, fake, options
):
    from wizard.errors import ApplyFailed

    fake.apply_events = ["backing up", f"validate: {TITLE}", f"{MARKUP} {CLIPBOARD}"]
    fake.apply_error = ApplyFailed(f"sshd -t refused it: {TITLE}", f"see {MARKUP}")
    app = make_app(options, scripted(fake))
    async with app.run_test(size=SIZE) as pilot:
        await open_review(app, pilot, settle)
        await pilot.press("A")
        await settle(
            pilot,
            until=lambda: isinstance(app.screen, ApplyScreen) and app.screen.has_class("-failed"),
        )
        text = assert_nothing_raw(app)
        assert f"validate: {TITLE_SHOWN}" in text
        assert MARKUP in text and CLIPBOARD_SHOWN in text
        assert f"sshd -t refused it: {TITLE_SHOWN}" in text and f"→ see {MARKUP}" in text


async def test_verify_shows_summary_evidence_and_hint_visibly(
    make_app, scripted, settle, fake, options
):
    result = CheckResult(
        "base.hostname", "fail", f"hostname is {TITLE}", f"hostname -f: {CLIPBOARD}", MARKUP
    )

    def verify(step_ids, on_result=None):
        return {step_id: [result] for step_id in step_ids}

    fake.verify = verify
    app = make_app(options, scripted(fake))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("v")
        await settle(
            pilot,
            until=lambda: isinstance(app.screen, VerifyScreen) and not app.screen.running,
        )
        table = app.screen.query_one("#results", DataTable)
        assert str(table.get_row_at(0)[2]) == f"hostname is {TITLE_SHOWN}"
        await pilot.pause()
        text = assert_nothing_raw(app)
        assert f"hostname -f: {CLIPBOARD_SHOWN}" in text and f"→ {MARKUP}" in text


async def test_an_error_dialog_shows_the_server_text_visibly(
    make_app, scripted, settle, fake, options
):
    fake.plan_error = WizardError(f"nginx -t said: {TITLE}", f"{MARKUP} {CLIPBOARD}")
    app = make_app(options, scripted(fake))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        text = assert_nothing_raw(app)
        assert f"nginx -t said: {TITLE_SHOWN}" in text
        # The hint wraps in the dialog: each part on its line.
        assert f"→ {MARKUP}" in text and CLIPBOARD_SHOWN in text


async def test_control_characters_a_widget_was_given_raw_never_reach_the_terminal(
    make_app, scripted, settle, fake, options
):
    # The last gate: a notification made without `shown` (as any future widget might).
    app = make_app(options, scripted(fake))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
        app.notify(f"raw {TITLE} and {CLIPBOARD} \x9b2J", markup=False)
        await pilot.pause()
        await pilot.pause()
        text = assert_nothing_raw(app)
        assert "raw ]0;owned and ]52;c;cm0gLXJmIH4= 2J" in text
