"""One SSH session to the server: connect with strict host keys, run scripts.

Round trips are counted per phase as the link sees them, so `--stats` can show where time
goes: the handshake's, three for a command on a channel of its own (its channel, its exec, its
answer), one for a command on the session's pipe (its answer).
Scripts travel on stdin to a fixed bootstrap, never on the command line, so nothing of them
shows up in the server's process list; the bootstrap runs a script only once it arrived whole.
The one exception is a PublicScript (the facts script: nothing secret, the same text for
everyone) that opens the pipe as root: it comes in the pipe's command line (in the process
list while the pipe is open), checked the same way, and saves the round trip that waits for
the pipe to be ready.

The pipes: a command goes through a channel whose bootstrap runs script after script
(PIPE_LOOP) and stays open for the next one, so a command costs one round trip instead of three
(a channel open and an exec reply each wait a latency), and on the server a few small processes
instead of an exec, a sudo and a bootstrap. Commands started while every pipe is busy (the
checks, in parallel) open one more pipe, up to the channels the server allows; a pipe is kept
open for the next command once its own is done. A command that cannot go on a pipe (run as the
login user, not root) gets a channel of its own, closing an idle pipe when no channel is free.

Reading ahead (read_ahead): scripts that only read the server can go on the pipe right
behind the next command, without waiting for its answer; their answers are kept for a later
`run` of the very same script, which then costs no round trip (a plan's probe, guessed before
the facts came, rides behind the facts script).
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import logging
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.endpoint import (
    DEFAULT_KNOWN_HOSTS,
    SSH_CONFIG,
    Credentials,
    PhaseStats,
    Stats,
    Target,
)
from wizard.errors import (
    ConnectionFailed,
    HostKeyChanged,
    UnknownHostKey,
    WizardError,
)
from wizard.publicscript import PublicScript
from wizard.shell import Shell, sh

if TYPE_CHECKING:
    import paramiko

# paramiko (with cryptography) is imported where a connection is made, not at start-up:
# it is a third of the time before the first screen.

# An ssh_config line that makes paramiko run a command (`Match exec`) or read other files.
_NEEDS_INVOKE = re.compile(r"^\s*(match\b.*\bexec\b|include\b)", re.IGNORECASE | re.MULTILINE)


def _import_paramiko() -> None:
    """Import paramiko without invoke when ~/.ssh/config cannot need it.

    paramiko.config imports invoke (and with it asyncio, unittest.mock, yaml: about 0.1 s,
    a third of paramiko's import) only to run the commands of `Match exec` lines, and records
    the ImportError when it is missing. Without such a line (or an Include, which may hold
    one) invoke is kept out of that one import; with one, paramiko imports it as usual."""
    if "paramiko" in sys.modules or "invoke" in sys.modules:
        return
    config = SSH_CONFIG.expanduser()
    try:
        text = config.read_text(errors="replace") if config.is_file() else ""
    except OSError:
        text = "include"  # unreadable here: leave it all to paramiko
    if _NEEDS_INVOKE.search(text):
        return
    sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` raises
    try:
        import paramiko  # noqa: F401
    finally:
        del sys.modules["invoke"]


CONNECT_TIMEOUT = 15.0
# sshd's MaxSessions is 10 by default; checks open channels in parallel below that.
MAX_CHANNELS = 8
CHANNEL_WAIT = 120.0
# What the link waits for, measured through a counting relay (tests/host/test_channels.py): a
# connect is the TCP handshake, the banners and key exchange offers, the key exchange's reply,
# the new keys with the service request, and the login; a command opens a session channel,
# waits for its exec request's reply (sshd gives a session channel no window before its command
# runs, so the script could not go sooner anyway), then sends the script and waits for the
# answer. A sudo password is one more: sent after sudo's prompt, the script after the
# bootstrap says ready.
CONNECT_ROUND_TRIPS = 5
COMMAND_ROUND_TRIPS = 3
# A command on the pipe once it is open: the script goes out, the answer comes back.
PIPE_ROUND_TRIPS = 1

# The bootstrap every script runs through: $1 is the script's length in bytes, $2 its
# SHA-256, $3 the login's $SSH_CONNECTION (sudo drops it from the environment). It reads
# exactly the script from stdin into memory, refuses it unless length and digest match and
# `sh -n` parses it, then runs it with the rest of the arguments as $1...
READY_MARK = b"@@VW-READY\n"
INCOMPLETE_MARK = b"@@VW-INCOMPLETE"
INCOMPLETE_EXIT = 125
SUDO_PROMPT = "@@VW-SUDO-PASSWORD@@"
BOOTSTRAP = (
    'printf "@@VW-READY\\n" >&2; s=$(head -c "$1"; echo .); s=${s%.}; '
    '[ "$(printf %s "$s" | wc -c)" -eq "$1" ] && '
    '[ "$(printf %s "$s" | sha256sum | cut -d " " -f 1)" = "$2" ] && '
    'printf %s "$s" | sh -n || { echo "@@VW-INCOMPLETE: nothing was run" >&2; exit 125; }; '
    'shift 2; eval "$s"'
)
# The pipe's bootstrap: the same checks for every script, framed by a line `LENGTH SHA256
# NONCE` on stdin. Each script runs in a subshell (its exit, umask, traps and variables end
# with it) with stdin from /dev/null (it never reads the next script) and $1 the login's
# $SSH_CONNECTION, as with BOOTSTRAP; then `@@VW-END-NONCE STATUS` ends its stdout and
# `@@VW-END-NONCE` its stderr. The nonce is new for every script: no output of an earlier one
# can end a later one. A script cut short by a dropped link ends the loop with nothing run.
END_MARK = "@@VW-END-"
#
# The first script may come in the command line instead (a PublicScript, see _on_pipe): its
# length, SHA-256 and nonce, then the script, as $2 to $5, checked and run the same way before
# the loop reads stdin. sshd starts the command only once its exec request arrived whole.
PIPE_LOOP = (
    'printf "@@VW-READY\\n" >&2; c="$1"; '
    "vw_run() { "
    'if [ "$(printf %s "$s" | wc -c)" -eq "$n" ] && '
    '[ "$(printf %s "$s" | sha256sum | cut -d " " -f 1)" = "$d" ] && '
    'printf %s "$s" | sh -n; then ( set -- "$c"; eval "$s" ) </dev/null; r=$?; '
    'else echo "@@VW-INCOMPLETE: nothing was run" >&2; '
    '[ "$(printf %s "$s" | wc -c)" -eq "$n" ] || exit 125; r=125; fi; '
    'printf "@@VW-END-%s %s\\n" "$m" "$r"; printf "@@VW-END-%s\\n" "$m" >&2; }; '
    'if [ "$#" -eq 5 ]; then n="$2"; d="$3"; m="$4"; s="$5"; vw_run; fi; '
    'while IFS=" " read -r n d m; do '
    's=$(head -c "$n"; echo .); s=${s%.}; vw_run; done'
)
# The longest script sent in the command line: far below Linux's 128 KiB for one argument.
PUBLIC_SCRIPT_MAX = 32768


class ConnectionLost(WizardError):
    """The SSH session dropped while a command was running."""


@dataclass(frozen=True)
class Result:
    """What a command returned."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


def fingerprint(key: paramiko.PKey) -> str:
    """The SHA256 fingerprint as OpenSSH prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The name under which known_hosts records a host (bracketed when the port is not 22)."""
    return host if port == 22 else f"[{host}]:{port}"


class _StrictPolicy:
    """Unknown key: accept only the fingerprint the user confirmed, else ask (raise)."""

    def __init__(self, accept_fingerprint: str | None, known_hosts: Path) -> None:
        self.accept_fingerprint = accept_fingerprint
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        presented = fingerprint(key)
        line = f"{hostname} {key.get_name()} {key.get_base64()}"
        if self.accept_fingerprint != presented:
            raise UnknownHostKey(hostname, key.get_name(), presented, line)
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.known_hosts.open("a") as handle:
            handle.write(line + "\n")
        client.get_host_keys().add(hostname, key.get_name(), key)


def _resolve(target: Target) -> tuple[str, int, str, list[str], str | None]:
    """Apply ~/.ssh/config: real host name, port, user, identity files, ProxyJump."""
    _import_paramiko()
    import paramiko

    config = paramiko.SSHConfig()
    config_path = SSH_CONFIG.expanduser()
    if config_path.exists():
        config = paramiko.SSHConfig.from_path(str(config_path))
    entry = config.lookup(target.host)
    hostname = entry.get("hostname", target.host)
    port = target.port or int(entry.get("port", 22))
    user = target.user or entry.get("user") or getpass.getuser()
    identities = [str(Path(p).expanduser()) for p in entry.get("identityfile", [])]
    return hostname, port, user, identities, entry.get("proxyjump")


def connect_failure(hostname: str, port: int, error: BaseException, had_keys: bool) -> Exception:
    """What went wrong in a failed connect, in words that point at the cause."""
    import paramiko

    text = str(error)
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return ConnectionFailed(
            f"nothing accepts connections on port {port} of {hostname} (connection refused).",
            "Check the port (after ssh-hardening it is the one you chose: user@host:PORT) and "
            "that sshd runs on the server.",
        )
    if "No authentication methods available" in text and not had_keys:
        return ConnectionFailed(
            "no SSH key to log in with: none in ~/.ssh, none in the agent, no -i and no password.",
            "Create one (ssh-keygen -t ed25519) and put it on the server (ssh-copy-id), or give "
            "-i KEY, or --ask-password.",
        )
    if "protocol banner" in text:
        return ConnectionFailed(
            f"{hostname}:{port} answered, but not as an SSH server ({text}).",
            "Check the port: another service listens there, or sshd is not up yet.",
        )
    return ConnectionFailed(
        f"could not connect to {hostname}:{port}: {text or type(error).__name__}",
        "Check the address, the port and that sshd runs on the server.",
    )


class Remote:
    """A live SSH session to one server."""

    def __init__(
        self,
        client: paramiko.SSHClient,
        target: Target,
        user: str,
        credentials: Credentials,
        stats: Stats,
        host_fingerprint: str,
    ) -> None:
        self._client = client
        self.target = target
        self.user = user
        self.credentials = credentials
        self.stats = stats
        self.host_fingerprint = host_fingerprint
        self.max_channels = MAX_CHANNELS
        self._open_channels = 0
        self._slots = threading.Condition()
        # The pipes (see the module's docstring) no command holds, guarded by _slots: each
        # holds one of the max_channels slots while open.
        self._idle_pipes: list[_Pipe] = []
        # read_ahead: the scripts to send behind the next pipe command, then their answers
        # (exit status, stdout, stderr) by script text until a command takes them or another
        # command runs.
        self._ahead: list[Shell] = []
        self._kept: dict[str, tuple[int, bytes, bytes]] = {}
        self._kept_lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        target: Target,
        credentials: Credentials = Credentials(),
        known_hosts: Path = DEFAULT_KNOWN_HOSTS,
        accept_fingerprint: str | None = None,
        stats: Stats | None = None,
    ) -> Remote:
        """Open the session, or take the one connect_early began with these same arguments.

        Raises UnknownHostKey (ask the user), HostKeyChanged or ConnectionFailed.
        """
        early = _take_early(target, credentials, known_hosts, accept_fingerprint, stats)
        if early is not None:
            return early.result()
        return cls._login(target, credentials, known_hosts, accept_fingerprint, stats)

    @classmethod
    def _login(
        cls,
        target: Target,
        credentials: Credentials,
        known_hosts: Path,
        accept_fingerprint: str | None,
        stats: Stats | None,
        connected: socket.socket | None = None,
    ) -> Remote:
        """Connect and log in now (see connect); `connected`: a TCP connection to the target
        made already (see _EarlyTcp)."""
        _import_paramiko()
        import paramiko

        # paramiko logs a refused channel open (which _channel_slot retries) as a warning;
        # without a handler of its own Python would print it on the user's terminal.
        logging.getLogger("paramiko").addHandler(logging.NullHandler())
        stats = stats or Stats()
        hostname, port, user, identities, proxyjump = _resolve(target)
        client = paramiko.SSHClient()
        if known_hosts.exists():
            client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(_StrictPolicy(accept_fingerprint, known_hosts))
        sock: socket.socket | paramiko.Channel | None = connected
        if proxyjump:
            jump = cls._login(
                Target.parse(proxyjump.split(",")[0]), credentials, known_hosts, None, stats
            )
            sock = jump._client.get_transport().open_channel(  # type: ignore[union-attr]
                "direct-tcpip", (hostname, port), ("127.0.0.1", 0)
            )
        key_files = [credentials.key_filename] if credentials.key_filename else identities
        with stats.phase("connect"):
            try:
                client.connect(
                    hostname,
                    port=port,
                    username=user,
                    key_filename=key_files or None,
                    password=credentials.password,
                    allow_agent=credentials.use_agent,
                    look_for_keys=not key_files,
                    timeout=CONNECT_TIMEOUT,
                    banner_timeout=CONNECT_TIMEOUT,
                    auth_timeout=CONNECT_TIMEOUT,
                    sock=sock,
                )
            except paramiko.BadHostKeyException as error:
                raise HostKeyChanged(
                    f"The host key of {hostname} has CHANGED: known_hosts says "
                    f"{fingerprint(error.expected_key)}, the server now shows "
                    f"{fingerprint(error.key)}. The connection was refused.",
                    "If the server was reinstalled, check the new fingerprint with your provider "
                    f"and run: ssh-keygen -R '{known_hosts_name(hostname, port)}' -f {known_hosts}."
                    " Otherwise someone may be intercepting the connection.",
                ) from None
            except paramiko.AuthenticationException:
                raise ConnectionFailed(
                    f"{user}@{hostname} refused the login ("
                    + ("password" if credentials.password else "SSH key")
                    + ").",
                    "Check the user name, the key (ssh-add -l) or the password. After "
                    "ssh-hardening, root login and passwords are off: connect as the admin user.",
                ) from None
            except TimeoutError:
                raise ConnectionFailed(
                    f"{hostname}:{port} did not answer within {CONNECT_TIMEOUT:.0f} s.",
                    "Check the address and that the server is up; a firewall may drop SSH.",
                ) from None
            except (OSError, paramiko.SSHException, EOFError) as error:
                raise connect_failure(hostname, port, error, bool(key_files)) from None
            stats.bucket().round_trips += CONNECT_ROUND_TRIPS
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        host_key = transport.get_remote_server_key()
        return cls(client, target, user, credentials, stats, fingerprint(host_key))

    @property
    def is_root(self) -> bool:
        """True when the session itself is root, so no sudo is needed."""
        return self.user == "root"

    def _exec_line(self, bootstrap: str, script: Shell | None, sudo: bool) -> tuple[Shell, bool]:
        """The command that starts a bootstrap (as root through sudo when asked), and whether
        sudo may ask for the password first. BOOTSTRAP is given the script's length and
        digest; PIPE_LOOP (no script) reads them before each script."""
        if script is None:
            boot = sh('sh -c {boot} vps-wizard "$SSH_CONNECTION"', boot=bootstrap)
        else:
            data = script.encode()
            boot = sh(
                'sh -c {boot} vps-wizard {length} {digest} "$SSH_CONNECTION"',
                boot=bootstrap,
                length=len(data),
                digest=hashlib.sha256(data).hexdigest(),
            )
        if not sudo or self.is_root:
            return boot, False
        if self.credentials.sudo_password is not None:
            return sh("sudo -S -p {prompt} -- {boot}", prompt=SUDO_PROMPT, boot=boot), True
        return sh("sudo -n -- {boot}", boot=boot), False

    def run(
        self,
        command: Shell,
        sudo: bool = True,
        timeout: float | None = 600,
        on_line: Callable[[str], None] | None = None,
    ) -> Result:
        """Run a shell script or command: on an idle pipe (one round trip), else on a new one
        (three), or as the login user on a channel of its own (three). `on_line` receives
        stdout lines.

        The script travels on stdin to a small bootstrap that runs it only once all of it
        arrived, checked by length and SHA-256 and parsed whole (`sh -n`): a cut link runs
        nothing. The sudo password, when there is one, is written only after sudo's own
        prompt was seen, and only sudo reads it; the bootstrap starts after sudo is done.
        """
        if not isinstance(command, Shell):
            raise TypeError("Remote.run takes Shell: build commands with wizard.shell.sh()")
        kept = self._take_kept(command, sudo)
        if kept is not None:
            # Counted in the phase that needed it; its one turn of the link was counted
            # where it was sent (_send_behind).
            bucket = self.stats.bucket()
            bucket.commands += 1
            bucket.bytes_sent += len(command.encode())
            return self._result(*kept)
        # Pipes run as root (through sudo when the login is not root); a command asked to run
        # as the login user itself goes on a channel of its own.
        if sudo or self.is_root:
            code, stdout, stderr = self._guarded(lambda: self._on_pipe(command, timeout, on_line))
        else:
            code, stdout, stderr = self._guarded(
                lambda: self._on_channel(command, sudo, timeout, on_line)
            )
        return self._result(code, stdout, stderr)

    def read_ahead(self, scripts: Sequence[Shell]) -> None:
        """Send these scripts on the pipe right behind the next command that goes on it, and
        keep their answers for a `run` of the very same script text (as root), as long as no
        other command ran in between: any other command may change what they read.

        For scripts that only read the server (a plan's probe): sent behind the facts script,
        they run on the server while the client still waits for the facts, and the plan
        that asks for the same script finds its answer here, without a round trip of its own.
        """
        self._ahead = list(scripts)

    def _take_kept(self, command: Shell, sudo: bool) -> tuple[int, bytes, bytes] | None:
        """The answer read ahead for this script; any other command drops them all."""
        with self._kept_lock:
            if not self._kept:
                return None
            kept = self._kept.pop(str(command), None) if (sudo or self.is_root) else None
            if kept is None:
                self._kept.clear()
            return kept

    def _guarded(self, run: Callable[[], tuple[int, bytes, bytes]]) -> tuple[int, bytes, bytes]:
        """A command's exit status and output; a dropped link is said as such."""
        import paramiko

        try:
            code, stdout, stderr = run()
        except (OSError, EOFError, paramiko.SSHException, AttributeError) as error:
            raise ConnectionLost(
                f"the connection to {self.target.host} dropped during a command "
                f"({str(error) or 'EOF'})",
                "Run the wizard again: it reads the server's journal and finishes or undoes the "
                "interrupted step.",
            ) from None
        if code == -1:
            raise ConnectionLost(
                f"the connection to {self.target.host} dropped during a command",
                "Run the wizard again: it reads the server's journal and finishes or undoes the "
                "interrupted step.",
            )
        return code, stdout, stderr

    def _result(self, code: int, stdout: bytes, stderr: bytes) -> Result:
        """The command's Result, or the error its output means (sudo, a cut script)."""
        self.stats.bucket().bytes_received += len(stdout) + len(stderr)
        stderr = stderr.replace(READY_MARK, b"", 1)
        out, err = stdout.decode(errors="replace"), stderr.decode(errors="replace")
        if code != 0 and "sudo:" in err and "password" in err:
            raise WizardError(
                f"{self.user} needs a password for sudo on {self.target.host}.",
                "Run again with --ask-sudo-password, or allow this user passwordless sudo.",
            )
        if code == INCOMPLETE_EXIT and INCOMPLETE_MARK.decode() in err:
            raise ConnectionLost(
                f"the script did not reach {self.target.host} whole: nothing of it was run",
                "Run the wizard again.",
            )
        return Result(code, out, err)

    def _on_channel(
        self,
        command: Shell,
        sudo: bool,
        timeout: float | None,
        on_line: Callable[[str], None] | None,
    ) -> tuple[int, bytes, bytes]:
        """One command on a channel of its own: open, exec, script, answer, close."""
        line, may_prompt = self._exec_line(BOOTSTRAP, command, sudo)
        data = command.encode()
        bucket = self.stats.bucket()
        bucket.round_trips += COMMAND_ROUND_TRIPS + (1 if may_prompt else 0)
        bucket.channels += 1
        bucket.commands += 1
        bucket.bytes_sent += len(data) + len(line)
        with self._channel_slot() as channel:
            channel.settimeout(timeout)
            channel.exec_command(line)
            early_stderr, ready = self._await_ready(channel) if may_prompt else (b"", True)
            reader = _StderrReader(channel)
            # sudo refused (after its prompt): the bootstrap never started, and its
            # reason is on stderr; there is nobody to send the script to.
            if ready:
                channel.sendall(data)
            channel.shutdown_write()
            stdout = self._drain(channel, on_line)
            stderr = early_stderr + reader.join()
            return channel.recv_exit_status(), stdout, stderr

    def _on_pipe(
        self, command: Shell, timeout: float | None, on_line: Callable[[str], None] | None
    ) -> tuple[int, bytes, bytes]:
        """One command on an idle pipe, or on a new one when none is idle. The pipe is kept for
        the next command when the command's answer came whole, else closed."""
        data = command.encode()
        frame, nonce = _frame(data)
        bucket = self.stats.bucket()
        bucket.commands += 1
        bucket.bytes_sent += len(frame) + len(data)
        early_stderr = b""
        pipe: _Pipe | None
        pipe, new = self._take_pipe()
        try:
            sent = False
            if new:
                line, may_prompt = self._exec_line(PIPE_LOOP, None, True)
                # A public script opening a pipe as root comes in its command line: it runs
                # as the exec request arrives, without the round trip that waits for the pipe
                # to take stdin. Not through sudo, which would write it to the server's log.
                sent = (
                    isinstance(command, PublicScript)
                    and self.is_root
                    and len(data) <= PUBLIC_SCRIPT_MAX
                )
                if sent:
                    line = sh(
                        "{line} {length} {digest} {nonce} {script}",
                        line=line,
                        length=len(data),
                        digest=hashlib.sha256(data).hexdigest(),
                        nonce=nonce,
                        script=str(command),
                    )
                    bucket.bytes_sent -= len(frame) + len(data)
                bucket.round_trips += (
                    COMMAND_ROUND_TRIPS - (1 if sent else 0) + (1 if may_prompt else 0)
                )
                bucket.channels += 1
                bucket.bytes_sent += len(line)
                pipe.channel.settimeout(timeout)
                pipe.channel.exec_command(line)
                if may_prompt:
                    early_stderr, ready = self._await_ready(pipe.channel)
                    if not ready:
                        # sudo refused: the loop never started, its reason is on stderr.
                        channel, pipe = pipe.channel, None
                        try:
                            channel.shutdown_write()
                            stdout = self._drain(channel, None)
                            stderr = early_stderr + _StderrReader(channel).join()
                            return channel.recv_exit_status(), stdout, stderr
                        finally:
                            self._release_channel(channel)
            else:
                bucket.round_trips += PIPE_ROUND_TRIPS
                pipe.channel.settimeout(timeout)
            channel = pipe.channel
            ahead, self._ahead = self._ahead, []
            if not sent:
                channel.sendall(frame + data)
            behind = self._send_behind(channel, ahead, bucket, after_exec=sent)
            code, stdout, stderr = self._answer_on_pipe(pipe, nonce, on_line)
            if code is None:
                # The loop ended (the script came cut, or sudo ended it): what it said last.
                status = channel.recv_exit_status()
                return status, stdout, early_stderr + stderr
            for script, script_nonce in behind:
                status, out, err = self._answer_on_pipe(pipe, script_nonce, None)
                if status is None:
                    break
                with self._kept_lock:
                    self._kept[script] = (status, out, err)
            else:
                self._keep_idle(pipe)
                pipe = None
            return code, stdout, early_stderr + stderr
        finally:
            if pipe is not None:
                self._release_channel(pipe.channel)

    def _send_behind(
        self, channel: paramiko.Channel, scripts: list[Shell], bucket: PhaseStats, after_exec: bool
    ) -> list[tuple[str, str]]:
        """Send read_ahead's scripts on the pipe, framed as _on_pipe frames one: the loop runs
        them after the command before them. Their text and nonce, in order.

        Behind a command that came in the pipe's command line they go once the exec request
        is answered (sshd opens the channel's window then): one more turn of the link, taken
        while the server runs the first command. Behind a framed command they go with it."""
        if not scripts:
            return []
        frames = []
        behind = []
        for script in scripts:
            data = script.encode()
            frame, nonce = _frame(data)
            frames += [frame, data]
            behind.append((str(script), nonce))
        channel.sendall(b"".join(frames))
        # Its commands and bytes count where an answer is taken (`run`), its turn here.
        bucket.round_trips += 1 if after_exec else 0
        with self._kept_lock:
            self._kept.clear()
        return behind

    @staticmethod
    def _answer_on_pipe(
        pipe: _Pipe, nonce: str, on_line: Callable[[str], None] | None
    ) -> tuple[int | None, bytes, bytes]:
        """One pipe command's exit status (None when the loop ended first), stdout and
        stderr, each up to its end mark; what came after the marks is kept for the next."""
        end = (END_MARK + nonce).encode()
        rest_out, rest_err = pipe.rest
        reader = _StderrReader(pipe.channel, end + b"\n", rest_err)
        stdout, code, rest_out = _drain_until(pipe.channel, end, on_line, rest_out)
        stderr = reader.join()
        pipe.rest = (rest_out, reader.rest)
        return code, stdout, stderr

    def _take_pipe(self) -> tuple[_Pipe, bool]:
        """A pipe no command holds (False), or a new channel for one, not yet started (True):
        waits while every slot is held by a command (see _open_channel). A pipe whose loop
        ended (a dropped channel) is closed on the way. While it waits, a pipe given back is
        taken, never closed to open another."""
        deadline = time.monotonic() + CHANNEL_WAIT
        while True:
            with self._slots:
                pipe = self._reserve_slot(deadline, take_idle=True)
            if pipe is None:
                channel = self._session_in_slot(deadline)
                if channel is not None:
                    return _Pipe(channel), True
            elif pipe.usable():
                return pipe, False
            else:
                self._release_channel(pipe.channel)

    def _keep_idle(self, pipe: _Pipe) -> None:
        """Give a pipe back once its command's answer came whole, for the next command."""
        with self._slots:
            self._idle_pipes.append(pipe)
            self._slots.notify_all()

    def _close_idle_pipes(self) -> None:
        """Close the pipes no command holds (their loops end with them)."""
        with self._slots:
            idle, self._idle_pipes = self._idle_pipes, []
        for pipe in idle:
            self._release_channel(pipe.channel)

    run_script = run

    @contextlib.contextmanager
    def _channel_slot(self) -> Iterator[paramiko.Channel]:
        """A session channel for one command, closed after it (see _open_channel)."""
        channel = self._open_channel()
        try:
            yield channel
        finally:
            self._release_channel(channel)

    def _reserve_slot(self, deadline: float, take_idle: bool) -> _Pipe | None:
        """Hold one of the max_channels slots, waiting while none is free, until the caller's
        deadline; called with _slots held. With take_idle, an idle pipe is taken instead when
        there is one (it holds its slot already, returned); without, an idle pipe is closed
        when no slot is free (its slot goes to the caller). None when a slot is reserved."""
        while True:
            if take_idle and self._idle_pipes:
                return self._idle_pipes.pop()
            if self._open_channels < self.max_channels:
                self._open_channels += 1
                return None
            if self._idle_pipes:
                self._open_channels -= 1  # _release_channel does it when the slot is not taken
                self._idle_pipes.pop().channel.close()
                continue
            if not self._slots.wait(timeout=max(0.0, deadline - time.monotonic())):
                raise ConnectionLost(
                    f"{self.target.host} gave no free channel for {CHANNEL_WAIT:.0f} s",
                    "Check MaxSessions in the server's sshd configuration, then run "
                    "the wizard again.",
                )

    def _open_channel(self) -> paramiko.Channel:
        """A session channel, at most `max_channels` open at once (pipes included): sshd
        refuses more than its MaxSessions (10 by default) on one connection. When the server
        refuses one anyway (a lower MaxSessions, or channels it has not finished closing), the
        limit goes down to what it accepted and the open waits for a slot to free up. Given
        back with _release_channel."""
        deadline = time.monotonic() + CHANNEL_WAIT
        while True:
            with self._slots:
                self._reserve_slot(deadline, take_idle=False)
            channel = self._session_in_slot(deadline)
            if channel is not None:
                return channel

    def _session_in_slot(self, deadline: float) -> paramiko.Channel | None:
        """Open a session channel in the slot the caller reserved; None when the server
        refused it (the slot is given back and the limit lowered: reserve again)."""
        import paramiko

        try:
            transport = self._client.get_transport()
            assert transport is not None
            return transport.open_session(timeout=CONNECT_TIMEOUT)
        except paramiko.SSHException:
            # A refusal is a ChannelException only for the thread that fetches paramiko's
            # one saved exception; others refused at the same time get a bare
            # SSHException("Unable to open channel."). Either is a refusal while the
            # connection itself is up.
            if not transport.is_active():
                self._free_slot()
                raise
            self._free_slot(lower_limit=True)
            if time.monotonic() > deadline:
                raise ConnectionLost(
                    f"{self.target.host} refused every new channel on this connection",
                    "Check MaxSessions in the server's sshd configuration, then run the "
                    "wizard again.",
                ) from None
            time.sleep(0.05)
            return None
        except BaseException:
            self._free_slot()
            raise

    def _release_channel(self, channel: paramiko.Channel) -> None:
        """Close a channel from _open_channel and free its slot."""
        try:
            channel.close()
        finally:
            self._free_slot()

    def _free_slot(self, lower_limit: bool = False) -> None:
        """Give back a slot of _reserve_slot, and wake whoever waits for one; with lower_limit
        (the server refused the channel), the limit becomes the slots still held: what the
        server accepted."""
        with self._slots:
            self._open_channels -= 1
            if lower_limit:
                self.max_channels = max(1, self._open_channels)
            self._slots.notify_all()

    def _await_ready(self, channel: paramiko.Channel) -> tuple[bytes, bool]:
        """Read stderr until the bootstrap says it runs; give sudo its password if it asks.

        The password is sent only in answer to sudo's own prompt (a marker no other program
        prints), never ahead of it: when sudo does not ask, nothing but the script is sent.
        """
        seen = b""
        answered = False
        while READY_MARK not in seen:
            chunk = channel.recv_stderr(4096)
            if not chunk:
                break
            seen += chunk
            prompts = seen.count(SUDO_PROMPT.encode())
            if prompts and not answered:
                password = self.credentials.sudo_password or ""
                channel.sendall((password + "\n").encode())
                answered = True
            elif prompts > 1:
                raise WizardError(
                    f"sudo on {self.target.host} refused the password for {self.user}.",
                    "Check the sudo password (it is the user's login password) and run again.",
                )
        return seen.replace(SUDO_PROMPT.encode(), b""), READY_MARK in seen

    @staticmethod
    def _drain(channel: paramiko.Channel, on_line: Callable[[str], None] | None) -> bytes:
        received: list[bytes] = []
        pending = b""
        while True:
            chunk = channel.recv(65536)
            if not chunk:
                break
            received.append(chunk)
            if on_line:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode(errors="replace"))
        if on_line and pending:
            on_line(pending.decode(errors="replace"))
        if not channel.exit_status_ready() and channel.closed and not received:
            raise EOFError("channel closed")
        return b"".join(received)

    def close(self) -> None:
        """End the session."""
        self._close_idle_pipes()
        self._client.close()


class _EarlyTcp:
    """The TCP connection of a login begun early, opened in a thread before paramiko is even
    imported: its round trip is waited for while the import runs (0.1 s).

    Only for a target reached as given: with a ~/.ssh/config, its HostName, Port, ProxyJump
    or Match lines may send the login elsewhere, and only paramiko reads them. A connection
    that fails is left to paramiko, which tries again and words the error as always."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.connected: socket.socket | None = None
        self._thread = threading.Thread(target=self._open, name="vps-wizard-tcp", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, target: Target) -> _EarlyTcp | None:
        """Open the connection now, when the target is reached as given."""
        if target.port is None or SSH_CONFIG.expanduser().exists():
            return None
        return cls(target.host, target.port)

    def _open(self) -> None:
        with contextlib.suppress(OSError):
            self.connected = socket.create_connection(self.address, timeout=CONNECT_TIMEOUT)

    def take(self) -> socket.socket | None:
        """The connection once made (None when it failed)."""
        self._thread.join()
        return self.connected


class _EarlyConnect:
    """A login begun in a thread before the command needed it (see connect_early)."""

    def __init__(
        self,
        target: Target,
        credentials: Credentials,
        known_hosts: Path,
        stats: Stats,
        tcp: _EarlyTcp | None = None,
    ) -> None:
        self.arguments = (target, credentials, known_hosts)
        self.stats = stats
        self.tcp = tcp
        self.done = threading.Event()
        self.remote: Remote | None = None
        self.error: BaseException | None = None
        self.dropped = False
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            connected = self.tcp.take() if self.tcp is not None else None
            try:
                remote = Remote._login(*self.arguments, None, self.stats, connected)
            except BaseException:
                if connected is not None:
                    connected.close()
                raise
        except BaseException as error:  # raised where the session takes the login
            self.error = error
        else:
            with self.lock:
                if self.dropped:
                    remote.close()
                else:
                    self.remote = remote
        finally:
            self.done.set()

    def result(self) -> Remote:
        """The session, once logged in; the login's error raised here, as if it were now."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.remote is not None
        return self.remote

    def drop(self) -> None:
        """Close the session when it comes (at once when it is there), without waiting."""
        with self.lock:
            self.dropped = True
            remote, self.remote = self.remote, None
        if remote is not None:
            remote.close()


# The one login begun early in this process, until a Remote.connect takes it or it is dropped.
_early: _EarlyConnect | None = None


def connect_early(
    target: Target, credentials: Credentials, known_hosts: Path, stats: Stats
) -> None:
    """Begin logging in, in a thread, for the Remote.connect that will ask for exactly this
    login (equal target, credentials and known_hosts, no fingerprint to accept, this very
    Stats object, which is the thread's until then).

    The handshake is five round trips of waiting; the command loads the step catalog and the
    engine meanwhile, about 0.1 s of processor it would otherwise spend before connecting.
    Paramiko is imported here first, in the caller's thread: the handshake cannot start
    before it, and the caller's own imports would otherwise slow it down. The TCP connection,
    the first of the five, needs no paramiko: it is opened while paramiko is imported (when
    no ~/.ssh/config can send the login elsewhere, see _EarlyTcp).
    """
    global _early
    drop_early_connect()
    tcp = _EarlyTcp.start(target)
    _import_paramiko()
    _early = _EarlyConnect(target, credentials, known_hosts, stats, tcp)
    threading.Thread(target=_early.run, name="vps-wizard-connect", daemon=True).start()


def drop_early_connect() -> None:
    """Close a login begun early that no Remote.connect took (the command stopped before it
    connected, or connected as someone else)."""
    global _early
    early, _early = _early, None
    if early is not None:
        early.drop()


def _take_early(
    target: Target,
    credentials: Credentials,
    known_hosts: Path,
    accept_fingerprint: str | None,
    stats: Stats | None,
) -> _EarlyConnect | None:
    """The login begun early for exactly these arguments, taken out of the slot."""
    global _early
    early = _early
    if (
        early is None
        or early.stats is not stats
        or accept_fingerprint is not None
        or early.arguments != (target, credentials, known_hosts)
    ):
        return None
    _early = None
    return early


@dataclass
class _Pipe:
    """An open pipe (PIPE_LOOP on its channel) and what it carried past the end of the last
    command read from it (the output of a script sent behind it, read_ahead): its stdout, its
    stderr."""

    channel: paramiko.Channel
    rest: tuple[bytes, bytes] = (b"", b"")

    def usable(self) -> bool:
        """Its loop still reads scripts: the channel was not closed nor its loop ended."""
        return not self.channel.closed and not self.channel.exit_status_ready()


def _frame(data: bytes) -> tuple[bytes, str]:
    """The line that frames a script on the pipe (`LENGTH SHA256 NONCE`, see PIPE_LOOP), and
    its nonce: new for every script, so no output of an earlier one can end a later one."""
    nonce = secrets.token_hex(8)
    return f"{len(data)} {hashlib.sha256(data).hexdigest()} {nonce}\n".encode(), nonce


class _StderrReader:
    """Reads a channel's stderr in a thread, so a chatty command never stalls its stdout; on
    the pipe, up to the end mark of the command (which is left out), what followed it kept in
    `rest` (the stderr of the command sent behind it). `start`: what was read of it already."""

    def __init__(self, channel: paramiko.Channel, end: bytes = b"", start: bytes = b"") -> None:
        self._received = bytearray(start)
        self._end = end
        self.rest = b""
        self._thread = threading.Thread(target=self._read, args=(channel,), daemon=True)
        self._thread.start()

    def _read(self, channel: paramiko.Channel) -> None:
        received = self._received
        searched = 0
        try:
            while not self._end or received.find(self._end, searched) < 0:
                # The end mark may come split over two chunks.
                searched = max(0, len(received) - len(self._end))
                chunk = channel.recv_stderr(65536)
                if not chunk:
                    return
                received += chunk
        except Exception:  # the stdout side reports a dropped link
            return

    def join(self) -> bytes:
        """Everything stderr carried, once the channel closed it (or the end mark came)."""
        self._thread.join()
        data = bytes(self._received)
        at = data.find(self._end) if self._end else -1
        if at < 0:
            return data
        self.rest = data[at + len(self._end) :]
        return data[:at]


def _drain_until(
    channel: paramiko.Channel,
    end: bytes,
    on_line: Callable[[str], None] | None,
    start: bytes = b"",
) -> tuple[bytes, int | None, bytes]:
    """A pipe command's stdout up to `end` (its end mark), the exit status after it (None
    when the channel closed first) and what came after that line (the stdout of the command
    sent behind it). `start`: what was read of it already. Lines go to `on_line` as they
    arrive."""
    received = bytearray(start)
    passed = 0  # what on_line has had, as an offset into received
    at = received.find(end)
    while at < 0 or received.find(b"\n", at) < 0:
        if at < 0 and on_line:
            last = received.rfind(b"\n", passed)
            if last >= 0:
                for line in bytes(received[passed:last]).split(b"\n"):
                    on_line(line.decode(errors="replace"))
                passed = last + 1
        chunk = channel.recv(65536)
        if not chunk:
            if at >= 0:
                raise EOFError("channel closed in the end mark")
            break
        searched = max(0, len(received) - len(end))
        received += chunk
        if at < 0:
            at = received.find(end, searched)
    stop = at if at >= 0 else len(received)
    if on_line and passed < stop:
        # The last line may lack its newline: it is passed on all the same, as _drain does.
        for line in bytes(received[passed:stop]).removesuffix(b"\n").split(b"\n"):
            on_line(line.decode(errors="replace"))
    if at < 0:
        return bytes(received), None, b""
    newline = received.find(b"\n", at)
    status = received[at + len(end) : newline].strip()
    return bytes(received[:at]), int(status), bytes(received[newline + 1 :])
