"""What an apply made that the user must keep is shown once, over the apply, until the user
says it is stored; the run's checks come after, and the value is kept nowhere in the app."""

from __future__ import annotations

from textual.widgets import Static

from screens.reveal import RevealModal
from tests.tui.test_apply_verify import apply_base
from wizard.reveal import Secret

# A value from the server: its escape character must show, not act on the terminal.
VALUE = "Zm9v\x1b[2Jbar"


async def test_the_secret_is_shown_until_stored_then_the_checks_run(
    make_app, scripted, settle, fake, options
):
    fake.secrets["base"] = (Secret("the repository password", "/etc/x/password", VALUE),)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(100, 30)) as pilot:
        await apply_base(app, pilot, settle)
        await settle(pilot, until=lambda: isinstance(app.screen, RevealModal))
        texts = [str(s.visual) for s in app.screen.query(Static)]
        assert any("Zm9v" in t and "bar" in t and "\x1b" not in t for t in texts), texts
        assert any("the repository password (/etc/x/password)" in t for t in texts)
        # The checks wait for the user's word.
        assert not [c for c in fake.calls if c[0] == "verify"]
        await pilot.press("enter")
        await settle(pilot, until=lambda: any(c[0] == "verify" for c in fake.calls))
        assert not isinstance(app.screen, RevealModal)
        # Not kept in the apply's log, which can be opened again later.
        assert app.last_apply is not None
        assert not [line for line in app.last_apply.lines if "Zm9v" in line]
    assert [c for c in fake.calls if c[0] == "reveal_once"] == [("reveal_once", "base")]
