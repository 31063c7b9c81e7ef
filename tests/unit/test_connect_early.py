"""The login begun early (wizard.remote.connect_early): a headless command given user and port
starts the SSH handshake before it loads the catalog, and the session takes that very login;
a login no session took is closed. Against a real SSH server (Paramiko's, in this process,
accepting the test's key) on a local port."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wizard import cli
from wizard import remote as remote_module
from wizard.endpoint import Credentials, Stats, Target
from wizard.errors import ConnectionFailed
from wizard.remote import (
    CONNECT_ROUND_TRIPS,
    Remote,
    connect_early,
    drop_early_connect,
    known_hosts_name,
)


def new_key() -> tuple[paramiko.Ed25519Key, str]:
    """An Ed25519 key for Paramiko, and its private key file's text."""
    text = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )
    return paramiko.Ed25519Key(file_obj=io.StringIO(text)), text


class AcceptKey(paramiko.ServerInterface):
    """Logs in anyone showing the client key; opens nothing else."""

    def __init__(self, key: paramiko.PKey) -> None:
        self.key = key

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL if key == self.key else paramiko.AUTH_FAILED


@dataclass
class Server:
    """An SSH server on 127.0.0.1: the logins it took, and whether each is still open."""

    port: int
    key_file: Path
    known_hosts: Path
    logins: list[paramiko.Transport] = field(default_factory=list)

    def target(self, port: int | None = None) -> Target:
        return Target("127.0.0.1", "root", port or self.port)

    def credentials(self) -> Credentials:
        return Credentials(str(self.key_file), use_agent=False)

    def open_logins(self) -> int:
        return sum(t.is_active() for t in self.logins)

    def wait_closed(self) -> None:
        """Until every login ended (a dropped early login may close a moment later)."""
        deadline = time.monotonic() + 10
        while self.open_logins() and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    host_key, _ = new_key()
    client_key, client_text = new_key()
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(client_text)
    key_file.chmod(0o600)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"{known_hosts_name('127.0.0.1', port)} {host_key.get_name()} {host_key.get_base64()}\n"
    )
    found = Server(port, key_file, known_hosts)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(connection)
            transport.add_server_key(host_key)
            found.logins.append(transport)
            try:
                transport.start_server(server=AcceptKey(client_key))
            except (paramiko.SSHException, EOFError, OSError):
                # A login dropped before its negotiation ended (drop_early_connect does that
                # by design): this server goes on serving the next one.
                continue

    threading.Thread(target=serve, daemon=True).start()
    yield found
    drop_early_connect()
    listener.close()
    for transport in found.logins:
        transport.close()


def test_the_session_takes_the_login_begun_early(server: Server) -> None:
    stats = Stats()
    connect_early(server.target(), server.credentials(), server.known_hosts, stats)
    remote = Remote.connect(server.target(), server.credentials(), server.known_hosts, None, stats)
    try:
        assert remote.user == "root"
        assert len(server.logins) == 1  # one login: the early one, not a second
        # Its round trips are counted where the session counts them.
        assert stats.phases["connect"].round_trips == CONNECT_ROUND_TRIPS
        assert remote.stats is stats
    finally:
        remote.close()


def test_another_login_is_not_taken_and_the_early_one_is_closed(server: Server) -> None:
    early_stats = Stats()
    connect_early(server.target(), server.credentials(), server.known_hosts, early_stats)
    # Another Stats object is another command's: it logs in by itself.
    remote = Remote.connect(server.target(), server.credentials(), server.known_hosts, None)
    remote.close()
    assert len(server.logins) == 2
    drop_early_connect()
    server.wait_closed()
    assert server.open_logins() == 0


def test_a_failed_early_login_fails_where_the_session_connects(server: Server) -> None:
    wrong = server.known_hosts.parent / "other_known_hosts"
    wrong.write_text("")
    stats = Stats()
    connect_early(server.target(), server.credentials(), wrong, stats)
    with pytest.raises(Exception) as early:
        Remote.connect(server.target(), server.credentials(), wrong, None, stats)
    with pytest.raises(Exception) as now:
        Remote.connect(server.target(), server.credentials(), wrong, None, Stats())
    # The same error as a login made there and then (here: a host key it does not know).
    assert type(early.value) is type(now.value)
    assert str(early.value) == str(now.value)


def test_a_refused_port_is_said_as_before(server: Server) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    stats = Stats()
    connect_early(server.target(port), server.credentials(), server.known_hosts, stats)
    with pytest.raises(ConnectionFailed, match="nothing accepts connections"):
        Remote.connect(server.target(port), server.credentials(), server.known_hosts, None, stats)


def run_plan(server: Server, tmp_path: Path, target: str, answers: str) -> int:
    answers_file = tmp_path / "answers.toml"
    answers_file.write_text(answers)
    argv = ["plan", target, "--answers", str(answers_file), "-i", str(server.key_file)]
    argv += ["--known-hosts", str(server.known_hosts), "--state", str(tmp_path / "state.db")]
    return cli.main(argv)


def test_a_command_that_stops_before_connecting_closes_its_early_login(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_plan(server, tmp_path, f"root@127.0.0.1:{server.port}", "[no-such-step]\n")
    assert code == 1
    assert "no-such-step" in capsys.readouterr().err
    # The login began before the answers file was read, and was closed when it failed.
    assert len(server.logins) == 1
    server.wait_closed()
    assert server.open_logins() == 0


def test_without_a_port_the_command_connects_where_it_always_did(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The session may take the port (and the user) from this machine's record: no early login.
    code = run_plan(server, tmp_path, "root@127.0.0.1", "[no-such-step]\n")
    assert code == 1
    assert "no-such-step" in capsys.readouterr().err
    assert server.logins == []


def test_the_tcp_connection_is_opened_while_paramiko_loads_and_the_login_rides_it(
    server: Server,
) -> None:
    """Without a ~/.ssh/config the target is reached as given: its TCP connection is opened
    before paramiko is imported, and the early login makes no other."""
    stats = Stats()
    connect_early(server.target(), server.credentials(), server.known_hosts, stats)
    early = remote_module._early
    assert early is not None and early.tcp is not None
    opened = early.tcp.take()
    remote = Remote.connect(server.target(), server.credentials(), server.known_hosts, None, stats)
    try:
        assert opened is not None
        transport = remote._client.get_transport()
        assert transport is not None and transport.sock is opened
        assert len(server.logins) == 1
    finally:
        remote.close()


def test_an_ssh_config_leaves_the_connection_to_paramiko(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ~/.ssh/config may send the login elsewhere (HostName, Port, ProxyJump, Match): only
    paramiko reads it, so nothing is opened before it."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host elsewhere\n  Port 2222\n")
    monkeypatch.setenv("HOME", str(home))
    stats = Stats()
    connect_early(server.target(), server.credentials(), server.known_hosts, stats)
    early = remote_module._early
    assert early is not None and early.tcp is None
    remote = Remote.connect(server.target(), server.credentials(), server.known_hosts, None, stats)
    remote.close()
    assert len(server.logins) == 1
