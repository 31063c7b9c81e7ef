"""One SSH session to the server: connect with strict host keys, run commands, read files.

Every exec is one round trip, counted per phase so `--stats` can show where time goes.
Scripts travel on stdin (`sh -s`), never on the command line, so no secret shows up in the
server's process list and no quoting of long scripts is needed.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.errors import (
    ConnectionFailed,
    HostKeyChanged,
    RemoteCommandFailed,
    UnknownHostKey,
    WizardError,
)

if TYPE_CHECKING:
    import paramiko

# paramiko (with cryptography) is imported where a connection is made, not at start-up:
# it is a third of the time before the first screen.

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()
CONNECT_TIMEOUT = 15.0


class ConnectionLost(WizardError):
    """The SSH session dropped while a command was running."""


@dataclass(frozen=True)
class Target:
    """Where to connect: user, host name (as the user wrote it) and port."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse `user@host`, `host:port`, `user@[v6addr]:port`."""
        user, _, hostport = text.rpartition("@")
        host, port = hostport, None
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:]) if rest[1:].isdigit() else 0
        elif hostport.count(":") == 1:
            host, port_text = hostport.split(":")
            port = int(port_text) if port_text.isdigit() else 0
        if port is not None and not 1 <= port <= 65535:
            raise WizardError(f"'{text}' has no valid port", "write it as user@host:2222")
        if not host or any(c in host for c in " \n;'\"`$"):
            raise WizardError(f"'{text}' is not a server address", "write it as user@host[:port]")
        return cls(host=host, user=user or None, port=port)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port and self.port != 22 else ""
        return f"{user}{self.host}{port}"


@dataclass
class PhaseStats:
    """Round trips, bytes and seconds spent in one phase."""

    round_trips: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0


@dataclass
class Stats:
    """Counters per phase (connect, facts, review, apply, verify, ...)."""

    phases: dict[str, PhaseStats] = field(default_factory=dict)
    current: str = "other"

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count everything done inside the block under `name`."""
        previous, self.current = self.current, name
        started = time.monotonic()
        try:
            yield
        finally:
            self.bucket().seconds += time.monotonic() - started
            self.current = previous

    def bucket(self, name: str | None = None) -> PhaseStats:
        """The counters of a phase (the current one by default)."""
        return self.phases.setdefault(name or self.current, PhaseStats())

    def total_round_trips(self) -> int:
        """All round trips so far."""
        return sum(p.round_trips for p in self.phases.values())

    def as_dict(self) -> dict[str, dict[str, float]]:
        """A plain dict, for --json and for printing."""
        return {name: vars(p).copy() for name, p in self.phases.items()}


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


@dataclass(frozen=True)
class Credentials:
    """How to log in. Passwords live in memory only, never in state or logs."""

    key_filename: str | None = None
    password: str | None = None
    sudo_password: str | None = None
    use_agent: bool = True


def _resolve(target: Target) -> tuple[str, int, str, list[str], str | None]:
    """Apply ~/.ssh/config: real host name, port, user, identity files, ProxyJump."""
    import paramiko

    config = paramiko.SSHConfig()
    config_path = Path("~/.ssh/config").expanduser()
    if config_path.exists():
        config = paramiko.SSHConfig.from_path(str(config_path))
    entry = config.lookup(target.host)
    hostname = entry.get("hostname", target.host)
    port = target.port or int(entry.get("port", 22))
    user = target.user or entry.get("user") or getpass.getuser()
    identities = [str(Path(p).expanduser()) for p in entry.get("identityfile", [])]
    return hostname, port, user, identities, entry.get("proxyjump")


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

    @classmethod
    def connect(
        cls,
        target: Target,
        credentials: Credentials = Credentials(),
        known_hosts: Path = DEFAULT_KNOWN_HOSTS,
        accept_fingerprint: str | None = None,
        stats: Stats | None = None,
    ) -> Remote:
        """Open the session.

        Raises UnknownHostKey (ask the user), HostKeyChanged or ConnectionFailed.
        """
        import paramiko

        stats = stats or Stats()
        hostname, port, user, identities, proxyjump = _resolve(target)
        client = paramiko.SSHClient()
        if known_hosts.exists():
            client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(_StrictPolicy(accept_fingerprint, known_hosts))
        sock = None
        if proxyjump:
            jump = cls.connect(
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
                raise ConnectionFailed(
                    f"could not connect to {hostname}:{port}: {error}",
                    "Check the address, the port and that sshd runs on the server.",
                ) from None
            stats.bucket().round_trips += 1
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        host_key = transport.get_remote_server_key()
        return cls(client, target, user, credentials, stats, fingerprint(host_key))

    @property
    def is_root(self) -> bool:
        """True when the session itself is root, so no sudo is needed."""
        return self.user == "root"

    def _wrap(self, command: str, sudo: bool) -> tuple[str, bytes]:
        if not sudo or self.is_root:
            return command, b""
        if self.credentials.sudo_password is not None:
            return f"sudo -S -p '' {command}", (self.credentials.sudo_password + "\n").encode()
        return f"sudo -n {command}", b""

    def run(
        self,
        command: str,
        stdin: bytes = b"",
        sudo: bool = True,
        timeout: float | None = 600,
        on_line: Callable[[str], None] | None = None,
    ) -> Result:
        """Run one command (one round trip). `on_line` receives stdout lines as they come."""
        import paramiko

        wrapped, prefix = self._wrap(command, sudo)
        data = prefix + stdin
        bucket = self.stats.bucket()
        bucket.round_trips += 1
        bucket.bytes_sent += len(data) + len(wrapped)
        try:
            channel = self._client.get_transport().open_session(timeout=CONNECT_TIMEOUT)  # type: ignore[union-attr]
            channel.settimeout(timeout)
            channel.exec_command(wrapped)
            if data:
                channel.sendall(data)
            channel.shutdown_write()
            stdout = self._drain(channel, on_line)
            stderr = b""
            while chunk := channel.recv_stderr(65536):
                stderr += chunk
            code = channel.recv_exit_status()
        except (OSError, EOFError, paramiko.SSHException, AttributeError) as error:
            raise ConnectionLost(
                f"the connection to {self.target.host} dropped during a command ({error or 'EOF'})",
                "Run the wizard again: it reads the server's journal and finishes or undoes the "
                "interrupted step.",
            ) from None
        if code == -1:
            raise ConnectionLost(
                f"the connection to {self.target.host} dropped during a command",
                "Run the wizard again: it reads the server's journal and finishes or undoes the "
                "interrupted step.",
            )
        bucket.bytes_received += len(stdout) + len(stderr)
        out, err = stdout.decode(errors="replace"), stderr.decode(errors="replace")
        if code != 0 and "sudo:" in err and "password" in err:
            raise WizardError(
                f"{self.user} needs a password for sudo on {self.target.host}.",
                "Run again with --ask-sudo-password, or allow this user passwordless sudo.",
            )
        return Result(code, out, err)

    @staticmethod
    def _drain(channel: paramiko.Channel, on_line: Callable[[str], None] | None) -> bytes:
        received = b""
        pending = b""
        while True:
            chunk = channel.recv(65536)
            if not chunk:
                break
            received += chunk
            if on_line:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode(errors="replace"))
        if on_line and pending:
            on_line(pending.decode(errors="replace"))
        if not channel.exit_status_ready() and channel.closed and not received:
            raise EOFError("channel closed")
        return received

    def run_script(
        self,
        script: str,
        sudo: bool = True,
        timeout: float | None = 600,
        on_line: Callable[[str], None] | None = None,
    ) -> Result:
        """Run a shell script sent on stdin (one round trip)."""
        return self.run("sh -s", stdin=script.encode(), sudo=sudo, timeout=timeout, on_line=on_line)

    def check(self, command: str, what: str) -> Result:
        """Run a command that must succeed; RemoteCommandFailed says what failed otherwise."""
        result = self.run(command)
        if not result.ok:
            raise RemoteCommandFailed(
                f"{what} failed on the server (exit {result.exit_code}): "
                f"{(result.stderr or result.stdout).strip()[-500:]}",
                "Read the message above; fix the cause on the server, then run the step again.",
            )
        return result

    def read_many(self, paths: Sequence[str]) -> dict[str, RemoteFile | None]:
        """Read many files in one round trip: content, mode, owner and group of each."""
        script = read_files_script(paths)
        result = self.run_script(script)
        return parse_read_files(result.stdout, paths)

    def close(self) -> None:
        """End the session."""
        self._client.close()


@dataclass(frozen=True)
class RemoteFile:
    """A file as it is on the server."""

    path: str
    content: bytes
    mode: str
    owner: str
    group: str

    @property
    def sha256(self) -> str:
        """The content's SHA-256, hex."""
        return hashlib.sha256(self.content).hexdigest()


def read_files_script(paths: Sequence[str]) -> str:
    """Shell lines that print each file framed as @@FILE/@@MISSING sections."""
    lines = []
    for index, path in enumerate(paths):
        quoted = shlex.quote(path)
        lines.append(
            f"if [ -f {quoted} ]; then echo \"@@FILE {index} $(stat -c '%a %U %G' {quoted})\";"
            f" base64 -w0 {quoted}; echo; else echo '@@MISSING {index}'; fi"
        )
    return "\n".join(lines) + "\n"


def parse_read_files(output: str, paths: Sequence[str]) -> dict[str, RemoteFile | None]:
    """Parse what read_files_script printed."""
    files: dict[str, RemoteFile | None] = dict.fromkeys(paths)
    lines = iter(output.splitlines())
    for line in lines:
        if line.startswith("@@FILE "):
            _, index, mode, owner, group = line.split()
            path = paths[int(index)]
            content = base64.b64decode(next(lines, ""))
            files[path] = RemoteFile(path, content, mode.zfill(4), owner, group)
    return files
