"""The first screen: which server, as whom, with which key; then connect."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, LoadingIndicator, Static

from screens.messages import WorkFailed
from screens.text import shown
from screens.widgets.form_field import FormField
from wizard.endpoint import ConnectOptions, Credentials, Stats, Target
from wizard.errors import WizardError

# Permissive on purpose (root, dotted corporate names), strict on what could reach a shell.
_LOGIN = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}$")


# What the session is doing while it connects, by the phase its counters are in (Stats.current).
PHASE_TEXT = {
    "connect": "opening SSH: the TCP connection, sshd's greeting, the host key, then the login",
    "facts": "reading the system, its packages and the wizard's records (one command)",
    # Recovery never waits: a run whose apply still runs on the server (or whose guard still
    # counts down) is left to end by itself; only a run nobody owns is finished or undone.
    "resume": (
        "looking at the run an interrupted apply left on the server: finished or undone when "
        "nothing runs it any more, left to end by itself while its apply or its guard runs"
    ),
    "state": "saving the wizard's record of the server",
}
PHASE_DEFAULT = "resolving the address and preparing"
PROGRESS_SECONDS = 1.0


def waiting_text(base: str, phase: str, seconds: float) -> str:
    """The status while connecting: what it is doing now, and for how long."""
    return f"{base} {PHASE_TEXT.get(phase, PHASE_DEFAULT)} ({int(seconds)} s)"


def check_address(raw: Any) -> str:
    """Why a server address (host, host:port, [v6]:port, user@host) is refused, or ""."""
    text = str(raw)
    if not text.strip():
        return "a server address is needed, like vps.example.org or 192.0.2.10:2222"
    if text != text.strip():
        return "no spaces around the address"
    try:
        target = Target.parse(text)
    except WizardError as error:
        return error.message
    except ValueError:
        # Target.parse lets int() fail on a port that is not a number.
        return "the port after ':' must be a number"
    if target.port is not None and not 1 <= target.port <= 65535:
        return "a port is between 1 and 65535"
    return ""


def check_login(raw: Any) -> str:
    """Why a login name is refused, or "" (empty leaves the choice to the engine)."""
    text = str(raw)
    if text and not _LOGIN.match(text):
        return "a login name has letters, digits, '.', '_' and '-' only"
    return ""


def check_key_file(raw: Any) -> str:
    """Why a private key path is refused, or "" (empty means: ssh-agent and ~/.ssh keys)."""
    text = str(raw).strip()
    if text and not Path(text).expanduser().is_file():
        return f"there is no file {text}"
    return ""


def check_password(raw: Any) -> str:
    """Any password is accepted; an Input cannot hold a newline."""
    return ""


def address_text(target: Target) -> str:
    """A target's host and port as the address field shows them (user goes in its own field)."""
    host = f"[{target.host}]" if ":" in target.host and target.port else target.host
    return f"{host}:{target.port}" if target.port else host


class ConnectScreen(Screen[None]):
    """Host, login, key file and optional password; Connect posts the options to the app.

    Shown first when no server was given, and while connecting to one that was (so that a
    failure can be corrected in place).
    """

    CSS_PATH = "connect.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "connect", "Connect")]

    class Submitted(Message):
        """The user asked to connect with these options."""

        def __init__(self, options: ConnectOptions) -> None:
            super().__init__()
            self.options = options

    def __init__(
        self,
        initial: ConnectOptions | None = None,
        connect_now: bool = False,
        stats: Stats | None = None,
    ) -> None:
        super().__init__()
        self.initial = initial
        self.connect_now = connect_now
        # The session's counters: their current phase says what a long wait waits for.
        self.stats = stats
        self._busy_text = ""
        self._busy_since = 0.0

    def compose(self) -> ComposeResult:
        target = self.initial.target if self.initial else None
        credentials = self.initial.credentials if self.initial else Credentials()
        yield Header()
        with VerticalScroll(id="form"):
            yield Static(
                "Connect to a fresh Debian or Ubuntu server. Keys come from ssh-agent and "
                "~/.ssh/config unless you name one.",
                id="intro",
            )
            yield FormField(
                "host",
                "Server",
                Input(
                    address_text(target) if target else "",
                    placeholder="vps.example.org",
                    id="host",
                    compact=True,
                ),
                "Host name or IP address, with :port when SSH is not on 22.",
                check_address,
            )
            yield FormField(
                "user",
                "Login",
                Input(
                    (target.user or "") if target else "",
                    placeholder="root",
                    id="user",
                    compact=True,
                ),
                "Empty: your admin user once the wizard made one, else ~/.ssh/config's User, "
                "else your local login name. A fresh server usually wants root.",
                check_login,
            )
            yield FormField(
                "key",
                "Private key file (optional)",
                Input(
                    credentials.key_filename or "",
                    placeholder="~/.ssh/id_ed25519",
                    id="key",
                    compact=True,
                ),
                "Its public half is what the admin-user step installs.",
                check_key_file,
            )
            yield FormField(
                "password",
                "Password (optional)",
                Input(credentials.password or "", password=True, id="password", compact=True),
                "Only for a first login without a key; kept in memory, never stored.",
                check_password,
            )
        with Horizontal(id="actions"):
            yield LoadingIndicator(id="busy")
            yield Static("", id="status", markup=False)
            yield Button("Connect", id="connect", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "connect"
        self.set_interval(PROGRESS_SECONDS, self._show_progress)
        self.query_one("#host", Input).focus()
        if self.connect_now:
            # After the fields have checked their values (their on_mount ran first).
            self.call_after_refresh(self.action_connect)

    @property
    def fields(self) -> list[FormField]:
        """The form's fields, in order."""
        return list(self.query(FormField))

    @on(FormField.Changed)
    def _field_changed(self) -> None:
        self._update_button()

    def _update_button(self) -> None:
        busy = self.has_class("-busy")
        self.query_one("#connect", Button).disabled = busy or not all(f.valid for f in self.fields)

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        # Enter moves on like Tab; on the last field it connects.
        if event.input.id == "password":
            self.action_connect()
        else:
            self.focus_next()

    @on(Button.Pressed, "#connect")
    def action_connect(self) -> None:
        """Build the options from the form and ask the app to connect."""
        if self.has_class("-busy") or not all(f.validate() for f in self.fields):
            return
        options = self.options()
        self.set_busy(True, f"connecting to {options.target}…")
        self.post_message(self.Submitted(options))

    def options(self) -> ConnectOptions:
        """The connect options the form describes (keeps known_hosts, sudo, guard from before)."""
        values = {f.key: f.value for f in self.fields}
        parsed = Target.parse(values["host"])
        target = Target(parsed.host, values["user"] or parsed.user or None, parsed.port)
        base = self.initial or ConnectOptions(target)
        key = str(Path(values["key"].strip()).expanduser()) if values["key"].strip() else None
        credentials = dataclasses.replace(
            base.credentials, key_filename=key, password=values["password"] or None
        )
        # A fingerprint given on the command line holds only for the server it was given for.
        accept = base.accept_fingerprint if target == base.target else None
        return dataclasses.replace(
            base, target=target, credentials=credentials, accept_fingerprint=accept
        )

    def set_busy(self, busy: bool, status: str = "") -> None:
        """Lock the form while connecting, and say what is happening."""
        self.set_class(busy, "-busy")
        for field in self.fields:
            field.disabled = busy
        self._busy_text = status if busy else ""
        self._busy_since = time.monotonic()
        self.query_one("#status", Static).update(shown(status))
        self._update_button()

    def _show_progress(self) -> None:
        """While connecting, say what the session waits for and since when."""
        if not self._busy_text or self.stats is None:
            return
        seconds = time.monotonic() - self._busy_since
        self.query_one("#status", Static).update(
            shown(waiting_text(self._busy_text, self.stats.current, seconds))
        )

    @on(WorkFailed)
    def _work_failed(self, event: WorkFailed) -> None:
        if event.group == "connect":
            self.set_busy(False)
