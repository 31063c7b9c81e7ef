"""The test host itself: boots pristine, answers SSH with the image's key, runs commands without
SSH, reaches the registry through its proxy, and the delay relay adds the latency it promises.

Needs root: the fixtures boot real machines with systemd-nspawn.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest

from wizard.testhost.machine import (
    ExecError,
    TestHost,
    TestHostError,
    boot,
    write_known_hosts,
)
from wizard.testhost.relay import DelayRelay

pytest_plugins = ["tests.host.fixtures"]
pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]


def ssh_client(
    host: TestHost, known_hosts: Path, where: tuple[str, int] | None = None, **auth: object
) -> paramiko.SSHClient:
    """A Paramiko client logged in as root, verifying the host key against known_hosts only."""
    address, port = where or (host.address, host.port)
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if not auth:
        auth = {"key_filename": str(host.root_key_path)}
    client.connect(
        address,
        port,
        username="root",
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
        **auth,  # type: ignore[arg-type]
    )
    return client


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    """Run command over SSH; returns (exit status, stdout)."""
    _, stdout, _ = client.exec_command(command, timeout=30)
    output = stdout.read().decode()
    return stdout.channel.recv_exit_status(), output


@pytest.fixture
def known_hosts(testhost: TestHost, tmp_path: Path) -> Path:
    return write_known_hosts(testhost, tmp_path / "known_hosts")


@pytest.fixture
def relay(testhost: TestHost) -> Iterator[DelayRelay]:
    with DelayRelay(testhost.address, testhost.port, delay_s=0.05) as relay:
        yield relay


def test_machine_boots_pristine_and_running(testhost: TestHost) -> None:
    state = testhost.exec("systemctl is-system-running", check=False).stdout.strip()
    assert state in ("running", "degraded")
    assert testhost.exec("hostname").stdout.strip() == "vps"
    assert testhost.exec("ip -4 -o addr show dev eth0").stdout.split()[3] == (
        f"{testhost.address}/30"
    )


def test_ssh_answers_with_the_image_host_key(testhost: TestHost, known_hosts: Path) -> None:
    with ssh_client(testhost, known_hosts) as client:
        key = client.get_transport().get_remote_server_key()  # type: ignore[union-attr]
        assert f"{key.get_name()} {key.get_base64()}" == testhost.host_key
        assert run(client, "id -u") == (0, "0\n")


def test_ssh_rejects_a_wrong_host_key(testhost: TestHost, tmp_path: Path) -> None:
    other = paramiko.Ed25519Key.from_private_key_file(str(testhost.root_key_path))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{testhost.address} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        ssh_client(testhost, wrong)


def test_root_password_works_once_sshd_allows_it(fresh_testhost: TestHost, tmp_path: Path) -> None:
    fresh_testhost.exec(
        "printf 'PermitRootLogin yes\\nPasswordAuthentication yes\\n'"
        " > /etc/ssh/sshd_config.d/10-test.conf && systemctl restart ssh"
    )
    fresh_testhost.wait_for_ssh()
    known_hosts = write_known_hosts(fresh_testhost, tmp_path / "known_hosts")
    with ssh_client(fresh_testhost, known_hosts, password=fresh_testhost.root_password) as client:
        assert run(client, "id -un") == (0, "root\n")


def test_exec_runs_inside_the_machine_as_root(testhost: TestHost) -> None:
    assert testhost.exec("id -u; cat /etc/hostname").stdout == "0\nvps\n"
    assert testhost.exec("systemctl is-active ssh").stdout.strip() == "active"
    assert testhost.exec("cat", input="piped\n").stdout == "piped\n"
    assert testhost.exec("exit 3", check=False).returncode == 3
    with pytest.raises(ExecError, match="oops"):
        testhost.exec("echo oops >&2; exit 1")
    with pytest.raises(subprocess.TimeoutExpired):
        testhost.exec("sleep 30", timeout=0.5)
    # The timeout killed the command inside the machine too, not only nsenter.
    time.sleep(0.2)
    assert testhost.exec("pgrep -x sleep", check=False).returncode == 1


def test_apt_reaches_the_registry_through_the_proxy(testhost: TestHost) -> None:
    result = testhost.exec("apt-get update", check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    assert testhost.proxy_url in testhost.exec("apt-config dump | grep -i proxy").stdout


def test_relay_adds_about_50ms_per_round_trip(
    testhost: TestHost, relay: DelayRelay, tmp_path: Path
) -> None:
    assert relay.address is not None
    known_hosts = write_known_hosts(testhost, tmp_path / "known_hosts", also=[relay.address])
    with (
        ssh_client(testhost, known_hosts) as direct,
        ssh_client(testhost, known_hosts, where=relay.address) as delayed,
    ):
        exec_delta = per_call(delayed, exec_true) - per_call(direct, exec_true)
        rtt_delta = per_call(delayed, one_round_trip) - per_call(direct, one_round_trip)
    print(f"relay: +{exec_delta * 1000:.1f} ms per exec, +{rtt_delta * 1000:.1f} ms per round trip")
    assert exec_delta >= 0.040
    assert 0.040 <= rtt_delta <= 0.100


def exec_true(client: paramiko.SSHClient) -> None:
    assert run(client, "true") == (0, "")


def one_round_trip(client: paramiko.SSHClient) -> None:
    # A global request with want-reply is exactly one round trip; sshd answers it with failure.
    client.get_transport().global_request("keepalive@openssh.com", wait=True)  # type: ignore[union-attr]


def per_call(client: paramiko.SSHClient, call: Callable[[paramiko.SSHClient], None]) -> float:
    """Seconds per call, over 5 sequential calls after a warm-up."""
    call(client)
    start = time.monotonic()
    for _ in range(5):
        call(client)
    return (time.monotonic() - start) / 5


def test_relay_drops_connections_and_accepts_new_ones(
    testhost: TestHost, relay: DelayRelay, tmp_path: Path
) -> None:
    assert relay.address is not None
    known_hosts = write_known_hosts(testhost, tmp_path / "known_hosts", also=[relay.address])
    client = ssh_client(testhost, known_hosts, where=relay.address)
    assert relay.connection_count == 1
    assert relay.drop_connections() == 1
    with pytest.raises((paramiko.SSHException, OSError, EOFError)):
        run(client, "true")
    client.close()
    with ssh_client(testhost, known_hosts, where=relay.address) as again:
        assert run(again, "echo back") == (0, "back\n")


def test_every_boot_is_pristine(testhost_factory: Callable[[], TestHost]) -> None:
    first = testhost_factory()
    first.exec("touch /root/marker /etc/marker")
    name, subnet = first.name, int(first.address.split(".")[2])
    first.stop()
    with boot(name, subnet) as second:
        assert second.exec("ls /root/marker /etc/marker", check=False).returncode != 0


def test_stop_removes_everything_and_is_idempotent(
    testhost_factory: Callable[[], TestHost],
) -> None:
    host = testhost_factory()
    nspawn_pid = int((host.workdir / "nspawn.pid").read_text())
    host.stop()
    host.stop()
    assert not host.is_running()
    assert not Path(f"/proc/{nspawn_pid}/cmdline").exists() or _is_zombie(nspawn_pid)
    assert (
        host.netns
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f" {host.netns}@" not in links and f" {host.netns}:" not in links
    with pytest.raises(TestHostError):
        host.exec("true")


def test_boot_recovers_from_a_crashed_run() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name, subnet = "vwcrash", 250
    crashed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from wizard.testhost.machine import boot; "
            f"boot({name!r}, {subnet}); print('up', flush=True); time.sleep(120)",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert crashed.stdout is not None
    assert crashed.stdout.readline() == "up\n"
    crashed.send_signal(signal.SIGKILL)  # no atexit, no stop(): machine, netns, proxy remain
    crashed.wait()
    with boot(name, subnet) as host:
        assert host.exec("systemctl is-system-running", check=False).stdout.strip() in (
            "running",
            "degraded",
        )


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
