"""The connect screen: the address checked at the field, host keys asked or refused."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Button, Input, Static

from screens.connect import ConnectScreen
from screens.error import ErrorModal
from screens.hostkey import HostKeyModal
from screens.overview import OverviewScreen
from screens.widgets.form_field import FormField
from wizard.errors import HostKeyChanged, UnknownHostKey
from wizard.remote import Target

FINGERPRINT = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"


def unknown_key() -> UnknownHostKey:
    return UnknownHostKey(
        "vps.example.org", "ssh-ed25519", FINGERPRINT, "vps.example.org ssh-ed25519 AAAA"
    )


@pytest.mark.parametrize(
    "typed",
    ["vps example.org", "vps.example.org;reboot", "vps.example.org:ssh"],
)
async def test_bad_address_is_refused_at_the_field(make_app, scripted, settle, typed):
    app = make_app(None, scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        await pilot.click("#host")
        await pilot.press(*typed)
        field = app.screen.query_one("#field-host", FormField)
        assert field.has_class("-invalid")
        assert field.query_one(".reason", Static).visual
        assert field.error
        assert app.screen.query_one("#connect", Button).disabled


async def test_address_with_a_newline_is_refused(make_app, scripted, settle):
    app = make_app(None, scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        # A paste keeps only the first line; a newline can still come from elsewhere.
        app.screen.query_one("#host", Input).value = "vps.example.org\nProxyCommand x"
        await pilot.pause()
        field = app.screen.query_one("#field-host", FormField)
        assert "is not a server address" in field.error
        assert app.screen.query_one("#connect", Button).disabled


async def test_form_builds_the_connect_options(make_app, scripted, settle, fake):
    factory = scripted(fake)
    app = make_app(None, factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        assert app.screen.query_one("#connect", Button).disabled
        await pilot.click("#host")
        await pilot.press(*"vps.example.org:2222")
        await pilot.click("#user")
        await pilot.press(*"root")
        await pilot.click("#password")
        await pilot.press(*"hunter2hunter2")
        assert app.screen.query_one("#password", Input).password
        assert not app.screen.query_one("#connect", Button).disabled
        await pilot.click("#connect")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    (options,) = factory.options
    assert options.target == Target("vps.example.org", "root", 2222)
    assert options.credentials.password == "hunter2hunter2"
    assert options.accept_fingerprint is None


async def test_unknown_host_key_is_asked_and_accepting_retries(
    make_app, scripted, settle, fake, options
):
    factory = scripted(unknown_key(), fake)
    app = make_app(options, factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, HostKeyModal))
        shown = " ".join(str(s.visual) for s in app.screen.query(Static))
        assert "vps.example.org" in shown
        assert "ssh-ed25519" in shown
        assert FINGERPRINT in shown
        assert "Trust this key?" in shown
        await pilot.press("y")
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    first, second = factory.options
    assert first.accept_fingerprint is None
    assert second.accept_fingerprint == FINGERPRINT
    assert second.target == options.target


async def test_refusing_the_host_key_does_not_connect(make_app, scripted, settle, fake, options):
    factory = scripted(unknown_key(), fake)
    app = make_app(options, factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, HostKeyModal))
        await pilot.press("n")
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        assert not app.screen.has_class("-busy")
        assert "not trusted" in str(app.screen.query_one("#status", Static).visual)
    assert len(factory.options) == 1


async def test_changed_host_key_is_an_error_without_accept(make_app, scripted, settle, options):
    changed = HostKeyChanged(
        "The host key of vps.example.org has CHANGED: the connection was refused.",
        "If the server was reinstalled, check the new fingerprint with your provider.",
    )
    factory = scripted(changed)
    app = make_app(options, factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, ErrorModal))
        modal = app.screen
        assert modal.message == changed.message
        assert modal.hint == changed.hint
        assert not any(isinstance(s, HostKeyModal) for s in app.screen_stack)
        assert not modal.query("#yes")
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, ConnectScreen))
        # The form is usable again, to correct the address or give up.
        assert not app.screen.has_class("-busy")
    assert len(factory.options) == 1


async def test_a_long_connect_says_what_it_waits_for(make_app, settle, fake, options):
    """After a quit during an apply, the next connect waits for the server's run to end:
    the status names that wait and counts the seconds, instead of a bare 'connecting…'."""
    gate = threading.Event()
    waiting = threading.Event()

    def factory(catalog, store, options, stats):
        with stats.phase("resume"):
            waiting.set()
            gate.wait(10)
        return fake

    app = make_app(options, factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        try:
            text = ""
            for _ in range(60):
                await pilot.pause(0.1)
                screen = app.screen
                if waiting.is_set() and isinstance(screen, ConnectScreen):
                    text = str(screen.query_one("#status", Static).visual)
                    if "interrupted apply" in text:
                        break
            assert "connecting to root@vps.example.org" in text
            assert "interrupted apply left on the server" in text
            assert " s)" in text
        finally:
            gate.set()
        await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
