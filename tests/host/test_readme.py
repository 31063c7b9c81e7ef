"""The README's commands work as written on a fresh server, in the order the README gives them.

Every indented command line of README.md that runs the wizard is taken in order. The ones aimed
at a server run against a fresh test host, with only what the README tells the user to put in:
the server's address for its placeholders (root@your-server, 203.0.113.10, host), and the
options it names for the key and the files (`-i KEY`, `--known-hosts FILE`, `--state FILE`), so
that this laptop's own files are not touched. A TUI line runs in a terminal (tmux) and must show
what the README says it shows; a headless line must exit as its comment says.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.harness import REPO

pytestmark = pytest.mark.host

README = REPO / "README.md"
# The placeholders the README uses for the user's server, longest first.
PLACEHOLDERS = ("root@your-server", "203.0.113.10", "root@host")
COMMANDS = ("scripts/run", "scripts/test", "vps-wizard")


@dataclass(frozen=True)
class ReadmeCommand:
    """One command line of the README: its words and the comment after it."""

    line: int
    words: tuple[str, ...]
    comment: str

    @property
    def targets_a_server(self) -> bool:
        return any(p in " ".join(self.words) for p in PLACEHOLDERS) or "host" in self.words

    @property
    def headless(self) -> bool:
        return len(self.words) > 1 and self.words[1] in ("plan", "apply", "verify", "status")

    def expected_exit(self) -> int:
        """The exit code the README promises on a fresh server: plan shows changes (2)."""
        if self.words[1:2] == ("plan",):
            assert "2 changes" in self.comment, self.comment
            return 2
        return 0


def readme_commands(text: str) -> list[ReadmeCommand]:
    """The indented lines (code blocks) whose first word runs the wizard, in order; a
    comment's continuation lines (only a comment) belong to the command above."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("    "):
            continue
        command, _, comment = line.strip().partition("#")
        if command.split(" ", 1)[0] in COMMANDS:
            found.append(ReadmeCommand(number, tuple(shlex.split(command)), comment.strip()))
    return found


def test_the_readme_s_command_lines_are_found_in_order() -> None:
    commands = readme_commands(README.read_text())
    words = [" ".join(c.words[:2]) for c in commands]
    assert words[:3] == ["scripts/run", "scripts/run root@your-server", "scripts/test"], words
    assert [c.words[1] for c in commands if c.headless] == ["plan", "apply", "verify", "status"]


def on_server(words: tuple[str, ...], address: str) -> list[str]:
    """The command with the user's server in place of the README's placeholders."""
    replaced = []
    for word in words:
        for placeholder in PLACEHOLDERS:
            user = placeholder.partition("@")[0] + "@" if "@" in placeholder else ""
            word = word.replace(placeholder, f"{user}{address}")
        replaced.append(address if word == "host" else word)
    return replaced


class Laptop:
    """The user's machine: a key, known_hosts, the state database, a working folder."""

    def __init__(self, root: Path, key: Path) -> None:
        self.root = root
        self.key = key
        self.known_hosts = root / "known_hosts"
        self.state = root / "state.db"
        self.work = root / "work"
        self.work.mkdir()
        # The README's paths are relative to the checkout (examples/day-one.toml).
        (self.work / "examples").symlink_to(REPO / "examples")
        self.env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_STATE_HOME": str(root / "state-home"),
            "TERM": "xterm-256color",
        }

    def options(self) -> list[str]:
        return [
            "-i",
            str(self.key),
            "--known-hosts",
            str(self.known_hosts),
            "--state",
            str(self.state),
        ]

    def argv(self, words: list[str]) -> list[str]:
        """vps-wizard is the installed command (.venv/bin); scripts/run is the checkout's."""
        program = (
            str(REPO / words[0])
            if words[0].startswith("scripts/")
            else str(REPO / ".venv" / "bin" / "vps-wizard")
        )
        return [program, *words[1:], *self.options()]


class Terminal:
    """A command in a tmux window of 120x40, read as the user sees it."""

    def __init__(self, laptop: Laptop, argv: list[str]) -> None:
        self.name = f"vw-readme-{os.getpid()}-{time.monotonic_ns()}"
        env = " ".join(
            f"{k}={shlex.quote(laptop.env[k])}"
            for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "TERM")
        )
        # The exit status stays on screen after the command ends.
        run = f"env {env} {shlex.join(argv)}; echo EXITED-$?; sleep 600"
        shell = f"cd {shlex.quote(str(laptop.work))} && {run}"
        self._tmux("new-session", "-d", "-s", self.name, "-x", "120", "-y", "40", shell)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", *args], capture_output=True, text=True, check=False, timeout=30
        ).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.screen():
                return
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never shown; the screen:\n{self.screen()}")

    def press(self, key: str) -> None:
        self._tmux("send-keys", "-t", self.name, key)

    def close(self) -> None:
        self._tmux("kill-session", "-t", self.name)


def run_tui(laptop: Laptop, command: ReadmeCommand, address: str, host_key_asked: bool) -> str:
    """Open the TUI as the README line says; trust the host key when asked; quit from the
    overview. Returns the overview as shown."""
    terminal = Terminal(laptop, laptop.argv(on_server(command.words, address)))
    try:
        if host_key_asked:
            terminal.wait_for("Trust this key?")
            assert "SHA256:" in terminal.screen()
            terminal.press("y")
        terminal.wait_for("Server: Debian", timeout=180)
        overview = terminal.screen()
        terminal.press("q")
        terminal.wait_for("EXITED-0", timeout=60)
        return overview
    finally:
        terminal.close()


def test_every_readme_command_works_on_a_fresh_server(fresh_testhost, tmp_path) -> None:
    # Every line that runs vps-wizard or scripts/run on a server, and `vps-wizard steps`, which
    # needs none (scripts/run alone boots the demo, scripts/test is the test suite itself).
    commands = [
        c
        for c in readme_commands(README.read_text())
        if c.targets_a_server or c.words[0] == "vps-wizard"
    ]
    address = fresh_testhost.address
    laptop = Laptop(tmp_path, fresh_testhost.root_key_path)
    seen_tui = 0
    for command in commands:
        if command.headless or not command.targets_a_server:
            argv = laptop.argv(on_server(command.words, address))
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                cwd=laptop.work,
                env=laptop.env,
                stdin=subprocess.DEVNULL,
                timeout=1800,
                check=False,
            )
            where = f"README line {command.line}: {shlex.join(command.words)}"
            assert result.returncode == command.expected_exit(), (
                f"{where} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr}"
            )
            if "--report" in command.words:
                report = laptop.work / command.words[command.words.index("--report") + 1]
                assert address in report.read_text(), where
            if "--json" in command.words:
                assert '"steps"' in result.stdout, where
        else:
            # The first TUI line meets the server for the first time: its host key is asked.
            overview = run_tui(laptop, command, address, host_key_asked=seen_tui == 0)
            assert "base" in overview, overview
            seen_tui += 1
    assert seen_tui >= 2
    # "later: the wizard knows to log in as the admin": after the README's apply, the bare
    # address logs in as the admin that the day-one answers made (root login is closed).
    later = next(
        c
        for c in commands
        if c.targets_a_server and not c.headless and "root@" not in " ".join(c.words)
    )
    overview = run_tui(laptop, later, address, host_key_asked=False)
    assert "verified" in overview, overview
    status = subprocess.run(
        [str(REPO / ".venv/bin/vps-wizard"), "status", address, *laptop.options()],
        capture_output=True,
        text=True,
        env=laptop.env,
        timeout=300,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "connected as admin" in status.stdout, status.stdout
