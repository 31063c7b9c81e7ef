"""Boot, drive and stop a disposable Debian 12 test host (systemd-nspawn in a network namespace).

Every boot is pristine: the cached image (see `image.py`) is mounted read-only under a
throw-away overlay (`--volatile=overlay`), so a test may break the machine freely.

Each machine gets:

- its own network namespace `vpsw-<name>` with a veth pair, the host side 10.254.N.1/30 and the
  machine 10.254.N.2/30 (interface `eth0`, as on a VPS). No default route: nothing the machine
  sends can leave, except through
- a tinyproxy on 10.254.N.1:8888, accepting only that /30, which the machine's apt uses, so
  `apt-get update/install` works the way it does on a real fresh VPS;
- a per-boot ed25519 key authorized for root, provisioned at boot by the image's own systemd
  (credential `ssh.authorized_keys.root`, see tmpfiles.d/provision.conf), so it is a plain file
  that the wizard may rewrite, and a root password (`ROOT_PASSWORD`); sshd keeps Debian's
  default `PermitRootLogin prohibit-password`, a test that needs the password path enables it.

Opt-in, for the tests of the ipv6 step (`boot(..., provider_ipv6=True)`): the link also carries
a ULA /64, fd77:7e57:<N>::/64, whose ::1 is on the host side (the provider's router: reachable
from the test process) and whose ::2 is left for the wizard to configure; and the machine's eth0
is managed by systemd-networkd from /etc/systemd/network/10-eth0.network holding its IPv4
address, the file a provider's image carries (the image itself enables no network manager: the
host side configures eth0 from outside, which no real server does).

Everything here needs root.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from wizard.testhost import image

WORK_ROOT = Path(os.environ.get("VPS_WIZARD_TESTHOST_WORK", "/tmp/vps-wizard-testhost"))
SSH_PORT = 22
PROXY_PORT = 8888
ROOT_PASSWORD = "vps-wizard-test"
BOOT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
NSPAWN_LOCKS = Path("/run/systemd/nspawn/locks")
CONTAINER_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}
# The link's IPv6 prefix of an opt-in machine: ULA (RFC 4193), never routed anywhere; the
# /64 is per subnet index so that parallel machines never share one.
IPV6_PREFIX = "fd77:7e57:{index}::/64"
NETWORK_FILE = "/etc/systemd/network/10-eth0.network"
# Interface names are limited to 15 characters and the host veth is called "vpsw-<name>".
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,9}$")


class TestHostError(RuntimeError):
    """The test host could not be booted or driven."""

    __test__ = False


class HostBusy(TestHostError):
    """Another live process owns a machine of that name or that subnet."""


class ExecError(subprocess.CalledProcessError):
    """A command run with `TestHost.exec(check=True)` failed; str() shows its output."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@dataclass
class _Runtime:
    """The mutable part of a running machine: processes and locks, guarded for stop()."""

    locks: list[IO[bytes]] = field(default_factory=list)
    nspawn: subprocess.Popen[bytes] | None = None
    proxy: subprocess.Popen[bytes] | None = None
    init_pid: int | None = None
    stopped: bool = False
    guard: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class TestHost:
    """A running test machine. Create it with `boot()`; `stop()` it (idempotent) when done."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    address: str
    port: int
    gateway: str
    netns: str
    root_key_path: Path
    root_password: str
    host_key: str
    workdir: Path
    image: Path
    _runtime: _Runtime = field(repr=False, compare=False)
    # With provider_ipv6: the router's address on the host side, and the one the machine may
    # take (unconfigured at boot), with the prefix length; empty otherwise.
    ipv6_gateway: str = ""
    ipv6_address: str = ""
    ipv6_prefix_length: int = 0

    @property
    def proxy_url(self) -> str:
        """The HTTP proxy the machine's apt uses (on the host side of its link)."""
        return f"http://{self.gateway}:{PROXY_PORT}"

    @property
    def known_hosts_line(self) -> str:
        """The known_hosts line for the machine's own address and port."""
        return self.known_hosts_entry()

    def known_hosts_entry(self, host: str | None = None, port: int | None = None) -> str:
        """A known_hosts line for the machine's host key as reached at host:port (e.g. a relay)."""
        host = host or self.address
        port = port or self.port
        where = host if port == SSH_PORT else f"[{host}]:{port}"
        return f"{where} {self.host_key}"

    def ssh_command(self, known_hosts: Path | None = None) -> list[str]:
        """An OpenSSH command line that logs in as root with the test key."""
        known = ["-o", f"UserKnownHostsFile={known_hosts}"] if known_hosts else []
        return [
            "ssh",
            "-i",
            str(self.root_key_path),
            "-o",
            "IdentitiesOnly=yes",
            *known,
            "-p",
            str(self.port),
            f"root@{self.address}",
        ]

    def wait_for_ssh(self, timeout: float = 30.0) -> None:
        """Wait until sshd answers with its banner, e.g. after a test restarted it.

        Prefer `systemctl restart ssh` over reload: reload returns once SIGHUP is sent, and
        sshd then re-execs, so it can answer from the old listener and refuse a moment later.
        """
        deadline = time.monotonic() + timeout
        while not _ssh_banner(self.address, self.port):
            if time.monotonic() > deadline:
                raise TestHostError(f"sshd on test host {self.name} did not answer in {timeout}s")
            time.sleep(0.05)

    @property
    def init_pid(self) -> int:
        """Host PID of the machine's systemd (PID 1 inside)."""
        pid = self._runtime.init_pid
        if pid is None or self._runtime.stopped:
            raise TestHostError(f"test host {self.name} is not running")
        return pid

    def is_running(self) -> bool:
        """Whether the machine's nspawn process is still alive."""
        proc = self._runtime.nspawn
        return not self._runtime.stopped and proc is not None and proc.poll() is None

    def exec(
        self,
        cmd: str,
        check: bool = True,
        timeout: float = 120.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside the machine as root, without SSH.

        nsenter joins all namespaces of the machine's PID 1 and its root, so `systemctl`, the
        machine's files and its network behave as for a root login. The environment is reset.
        """
        argv = [
            "nsenter",
            f"--target={self.init_pid}",
            "--all",
            "--root",
            "--wd",
            "--",
            "/usr/bin/env",
            "-i",
            *(f"{key}={value}" for key, value in CONTAINER_ENV.items()),
            "/bin/sh",
            "-c",
            cmd,
        ]
        return _run_in_group(argv, check=check, timeout=timeout, input=input)

    def stop(self) -> None:
        """Shut the machine down and remove its network and proxy. Safe to call repeatedly."""
        runtime = self._runtime
        with runtime.guard:
            if runtime.stopped:
                return
            runtime.stopped = True
            _stop_process(runtime.nspawn, signal.SIGTERM, STOP_TIMEOUT_S)
            _kill_netns_processes(self.netns)
            _stop_process(runtime.proxy, signal.SIGTERM, 5.0)
            _remove_network(self.name)
            _remove_stale_nspawn_locks(self.image)
            _release_locks(runtime)

    def __enter__(self) -> TestHost:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def write_known_hosts(host: TestHost, path: Path, also: Iterable[tuple[str, int]] = ()) -> Path:
    """Write a known_hosts file with host's key at its own address and at each (address, port)
    of `also` (e.g. a DelayRelay's); returns path. Clients then verify the key, never auto-add."""
    lines = [host.known_hosts_line]
    lines += [host.known_hosts_entry(address, port) for address, port in also]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def boot(
    name: str = "vw1",
    subnet_index: int = 1,
    distro: image.Distro = image.DEBIAN12,
    provider_ipv6: bool = False,
) -> TestHost:
    """Boot a pristine machine `name` of the release `distro` at 10.254.<subnet_index>.2 and
    wait until it is usable. With `provider_ipv6`, the link carries a global (ULA) IPv6 prefix
    whose router is the host side, and systemd-networkd manages the machine's eth0 (see the
    module's docstring).

    Usable means: `systemctl is-system-running --wait` says running (or degraded) and sshd
    answers with its banner on port 22. Leftovers of a crashed earlier run with the same name
    or subnet are removed first; a machine owned by a live process raises `HostBusy`.
    """
    if not NAME_RE.match(name):
        raise ValueError(f"test host name {name!r} must match {NAME_RE.pattern}")
    if not 0 <= subnet_index <= 255:
        raise ValueError(f"subnet_index {subnet_index} must be within 0..255")
    if os.geteuid() != 0:
        raise TestHostError("booting a test host needs root")
    net = ipaddress.IPv4Network(f"10.254.{subnet_index}.0/30")

    rootfs = ensure_image(distro)
    runtime = _Runtime()
    try:
        host = _claim(name, net, rootfs, runtime)
        if provider_ipv6:
            host = _with_ipv6(host, subnet_index)
    except BaseException:
        _release_locks(runtime)
        raise
    atexit.register(host.stop)
    try:
        _setup_network(name, host.gateway, host.address, broadcast=bool(host.ipv6_gateway))
        if host.ipv6_gateway:
            # nodad: the router's address is usable at once, not after duplicate detection.
            router = f"{host.ipv6_gateway}/{host.ipv6_prefix_length}"
            _ip("-6", "addr", "add", router, "dev", host.netns, "nodad")
        runtime.proxy = _start_proxy(host.workdir, host.gateway, net)
        runtime.nspawn = _start_nspawn(host)
        runtime.init_pid = _wait_for_init(host)
        _provision(host)
        _wait_until_ready(host, time.monotonic() + BOOT_TIMEOUT_S)
        if host.ipv6_gateway:
            _provision_networkd(host, net)
    except BaseException:
        host.stop()
        raise
    return host


def _claim(name: str, net: ipaddress.IPv4Network, rootfs: Path, runtime: _Runtime) -> TestHost:
    """Lock name and subnet, clear a crashed run's leftovers, prepare the work dir and key."""
    WORK_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    runtime.locks.append(_try_lock(WORK_ROOT / f"name-{name}.lock", f"test host {name}"))
    subnet_index = net.network_address.packed[2]
    runtime.locks.append(_try_lock(WORK_ROOT / f"subnet-{subnet_index}.lock", f"subnet {net}"))
    _cleanup_stale(name, net)
    workdir = _fresh_workdir(name)
    gateway, address = (str(ip) for ip in net.hosts())
    return TestHost(
        name=name,
        address=address,
        port=SSH_PORT,
        gateway=gateway,
        netns=_netns(name),
        root_key_path=_make_root_key(workdir),
        root_password=ROOT_PASSWORD,
        host_key=_image_host_key(rootfs),
        workdir=workdir,
        image=rootfs,
        _runtime=runtime,
    )


def _release_locks(runtime: _Runtime) -> None:
    """Give up the name and subnet locks (closing the file drops the flock)."""
    for lock in runtime.locks:
        lock.close()
    runtime.locks.clear()


# --- image -------------------------------------------------------------------------------------


def ensure_image(distro: image.Distro = image.DEBIAN12) -> Path:
    """The cached image, built first if missing; serialised across processes (image.py is not),
    so parallel test workers never build the same tree at once."""
    image.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(image.CACHE_DIR / ".build.lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return image.build_image(distro)


def _image_host_key(rootfs: Path) -> str:
    """The image's ed25519 host key as 'ssh-ed25519 AAAA...' (same on every boot)."""
    text = (rootfs / "etc/ssh/ssh_host_ed25519_key.pub").read_text()
    key_type, blob = text.split()[:2]
    return f"{key_type} {blob}"


# --- locks and leftovers -----------------------------------------------------------------------


def _try_lock(path: Path, what: str) -> IO[bytes]:
    """Take an exclusive flock for our lifetime; the kernel drops it if we crash."""
    handle = open(path, "wb")  # noqa: SIM115 - kept open on purpose, closed by stop()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise HostBusy(f"{what} is in use by another live process ({path})") from None
    return handle


def _cleanup_stale(name: str, net: ipaddress.IPv4Network) -> None:
    """Remove what a crashed run left: its processes, namespace and veth, for name and subnet."""
    _kill_stale_pids(WORK_ROOT / name)
    _kill_netns_processes(_netns(name))
    _remove_network(name)
    for other in _interfaces_in(net):
        in_use = HostBusy(f"subnet {net} is already used by interface {other}")
        if not other.startswith("vpsw-"):
            raise in_use
        other_name = other.removeprefix("vpsw-")
        try:
            other_lock = _try_lock(WORK_ROOT / f"name-{other_name}.lock", other)
        except HostBusy:
            raise in_use from None
        # Holding its lock, so that nobody boots that name while we remove its remains.
        with other_lock:
            _kill_stale_pids(WORK_ROOT / other_name)
            _kill_netns_processes(_netns(other_name))
            _remove_network(other_name)


def _kill_stale_pids(workdir: Path) -> None:
    """Kill the nspawn and tinyproxy a dead run recorded, if those PIDs still run them."""
    for pidfile, program in (("nspawn.pid", "systemd-nspawn"), ("proxy.pid", "tinyproxy")):
        with contextlib.suppress(OSError, ValueError):
            pid = int((workdir / pidfile).read_text())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            # Only our own command lines, never a reused PID of something else.
            if Path(argv[0].decode()).name == program and str(workdir).encode() in b" ".join(argv):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)


def _interfaces_in(net: ipaddress.IPv4Network) -> list[str]:
    """Host interfaces that carry an address inside net."""
    out = _ip("-o", "-4", "addr", "show", "to", str(net), check=False).stdout
    return sorted({line.split()[1].split("@")[0] for line in out.splitlines() if line.strip()})


def _remove_stale_nspawn_locks(rootfs: Path) -> None:
    """Remove nspawn's image lock files nobody holds (nspawn leaves them if it was killed).

    A shared lock held by another machine booted from the same tree makes our exclusive
    try fail, so live locks are left alone.
    """
    candidates = [rootfs.with_name(f".#{rootfs.name}.lck")]
    if NSPAWN_LOCKS.is_dir():
        candidates += list(NSPAWN_LOCKS.glob("inode-*"))
    for path in candidates:
        with contextlib.suppress(OSError), open(path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()


# --- work dir and key --------------------------------------------------------------------------


def _fresh_workdir(name: str) -> Path:
    """An empty per-machine directory (the previous boot's is kept until now for post-mortems)."""
    workdir = WORK_ROOT / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(mode=0o700)
    return workdir


def _make_root_key(workdir: Path) -> Path:
    """A fresh passphrase-less ed25519 key pair in OpenSSH format; returns the private key."""
    key = workdir / "id_ed25519"
    comment = f"vps-wizard-test@{workdir.name}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
        check=True,
    )
    return key


# --- network -----------------------------------------------------------------------------------


def _netns(name: str) -> str:
    return f"vpsw-{name}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise TestHostError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _setup_network(name: str, gateway: str, address: str, broadcast: bool = False) -> None:
    """Namespace plus veth: host side vpsw-<name> with gateway/30, machine side eth0.

    `broadcast`: the machine's address with its broadcast address, exactly as systemd-networkd
    adds it; networkd 252 then adopts it, where it fails (ERANGE from this kernel) to update one
    added without.
    """
    netns = _netns(name)
    _ip("netns", "add", netns)
    _ip("link", "add", netns, "type", "veth", "peer", "name", "eth0", "netns", netns)
    _ip("addr", "add", f"{gateway}/30", "dev", netns)
    _ip("link", "set", netns, "up")
    _ip(
        "-n",
        netns,
        "addr",
        "add",
        f"{address}/30",
        *(["brd", "+"] if broadcast else []),
        "dev",
        "eth0",
    )
    _ip("-n", netns, "link", "set", "eth0", "up")
    _ip("-n", netns, "link", "set", "lo", "up")


def _remove_network(name: str) -> None:
    """Delete the host veth (which takes its peer along) and the namespace, if present."""
    netns = _netns(name)
    _ip("link", "del", netns, check=False)
    _ip("netns", "del", netns, check=False)


def _kill_netns_processes(netns: str) -> None:
    """SIGKILL whatever still runs in the machine's namespace (only after nspawn is gone)."""
    out = _ip("netns", "pids", netns, check=False).stdout
    for pid in (int(word) for word in out.split()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- proxy -------------------------------------------------------------------------------------


def _start_proxy(
    workdir: Path, gateway: str, net: ipaddress.IPv4Network
) -> subprocess.Popen[bytes]:
    """Run tinyproxy in the foreground on gateway:8888, open only to the machine's /30."""
    conf = workdir / "tinyproxy.conf"
    conf.write_text(
        "User nobody\n"
        "Group nogroup\n"
        f"Port {PROXY_PORT}\n"
        f"Listen {gateway}\n"
        f"Allow {net}\n"
        "Timeout 600\n"
        "MaxClients 100\n"
        "LogLevel Notice\n"
    )
    with open(workdir / "tinyproxy.log", "wb") as log:
        proc = subprocess.Popen(
            ["tinyproxy", "-d", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches us only; we stop it in order
        )
    (workdir / "proxy.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10.0
    while not _port_open(gateway, PROXY_PORT, 0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            log_text = (workdir / "tinyproxy.log").read_text(errors="replace")
            raise TestHostError(f"tinyproxy did not start on {gateway}:{PROXY_PORT}:\n{log_text}")
        time.sleep(0.05)
    return proc


# --- machine -----------------------------------------------------------------------------------


def _start_nspawn(host: TestHost) -> subprocess.Popen[bytes]:
    """Start systemd-nspawn on a throw-away overlay of the image, console to console.log."""
    pubkey = host.root_key_path.with_suffix(".pub")
    argv = [
        "systemd-nspawn",
        "--quiet",
        "-D",
        str(host.image),
        "--volatile=overlay",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{host.netns}",
        "-M",
        host.name,
        "--console=read-only",
        # A VPS's root may change its own firewall (nftables, fail2ban): nspawn drops this
        # capability unless it owns the network, and here the namespace is ours.
        "--capability=CAP_NET_ADMIN",
        # Read by the image's tmpfiles.d/provision.conf: a real /root/.ssh/authorized_keys
        # (0600, root) before sshd starts. A bind mount would be a mount point the wizard could
        # not rename over and, read-only, could not edit.
        f"--load-credential=ssh.authorized_keys.root:{pubkey}",
    ]
    with open(host.workdir / "console.log", "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (host.workdir / "nspawn.pid").write_text(f"{proc.pid}\n")
    return proc


def _wait_for_init(host: TestHost) -> int:
    """The host PID of the machine's systemd: the nspawn child that has exec'd into PID 1."""
    nspawn = host._runtime.nspawn
    assert nspawn is not None
    own_pidns = os.readlink("/proc/self/ns/pid")
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        _check_alive(host)
        for pid in _children(nspawn.pid):
            with contextlib.suppress(OSError):
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                # Before its exec the child is still a copy of systemd-nspawn.
                if comm != "systemd-nspawn" and os.readlink(f"/proc/{pid}/ns/pid") != own_pidns:
                    return pid
        time.sleep(0.02)
    raise TestHostError(f"test host {host.name}: no init process appeared\n{_console_tail(host)}")


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            pids += [int(word) for word in children.read_text().split()]
    return pids


def _provision(host: TestHost) -> None:
    """Root password and apt proxy, written into the volatile overlay while systemd boots."""
    host.exec(
        f"echo 'root:{host.root_password}' | chpasswd\n"
        f"echo 'Acquire::http::Proxy \"{host.proxy_url}\";' > /etc/apt/apt.conf.d/01proxy\n"
    )


def _with_ipv6(host: TestHost, subnet_index: int) -> TestHost:
    """The host with its link's IPv6 router (::1) and the address left for the machine (::2)."""
    prefix = ipaddress.IPv6Network(IPV6_PREFIX.format(index=subnet_index))
    return replace(
        host,
        ipv6_gateway=str(prefix.network_address + 1),
        ipv6_address=str(prefix.network_address + 2),
        ipv6_prefix_length=prefix.prefixlen,
    )


def _provision_networkd(host: TestHost, net: ipaddress.IPv4Network) -> None:
    """eth0 as a provider's image configures it: systemd-networkd, from a .network file that
    holds the IPv4 address the host side gave it (networkd drops the addresses its file does
    not name when it reconfigures a link: the session rides on this one), no router
    advertisements (the provider's values are static). Started once systemd answers (it is
    not up on its bus while booting), and waited for."""
    host.exec(
        f"cat > {NETWORK_FILE} <<'EOF'\n"
        "[Match]\n"
        "Name=eth0\n"
        "\n"
        "[Network]\n"
        f"Address={host.address}/{net.prefixlen}\n"
        "IPv6AcceptRA=no\n"
        "EOF\n"
        "systemctl enable --now systemd-networkd.service\n"
        # Until networkd has configured eth0 (it fails there if it cannot adopt the address).
        "/lib/systemd/systemd-networkd-wait-online --interface=eth0 --timeout=20\n"
    )


def _wait_until_ready(host: TestHost, deadline: float) -> None:
    """Wait for systemd to finish booting and for sshd to send its banner."""
    state = ""
    while time.monotonic() < deadline:
        _check_alive(host)
        timeout = max(1.0, deadline - time.monotonic())
        result = host.exec("systemctl is-system-running --wait", check=False, timeout=timeout)
        state = result.stdout.strip()
        if state in ("running", "degraded"):
            break
        # "offline"/an error: PID 1 is not listening on its socket yet.
        time.sleep(0.1)
    else:
        raise TestHostError(
            f"test host {host.name} did not finish booting (state {state!r})\n{_console_tail(host)}"
        )
    while time.monotonic() < deadline:
        _check_alive(host)
        if _ssh_banner(host.address, host.port):
            return
        time.sleep(0.1)
    raise TestHostError(f"test host {host.name}: sshd did not answer\n{_console_tail(host)}")


def _ssh_banner(address: str, port: int) -> bool:
    """Whether an SSH server answers at address:port with its version banner."""
    try:
        with socket.create_connection((address, port), timeout=2.0) as sock:
            sock.settimeout(2.0)
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


def _port_open(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _check_alive(host: TestHost) -> None:
    nspawn = host._runtime.nspawn
    if nspawn is not None and nspawn.poll() is not None:
        raise TestHostError(
            f"systemd-nspawn for {host.name} exited with {nspawn.returncode}\n{_console_tail(host)}"
        )


def _console_tail(host: TestHost, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        text = (host.workdir / "console.log").read_text(errors="replace")
        return "console.log:\n" + "\n".join(text.splitlines()[-lines:])
    return ""


# --- processes ---------------------------------------------------------------------------------


def _run_in_group(
    argv: list[str], check: bool, timeout: float, input: str | None
) -> subprocess.CompletedProcess[str]:
    """subprocess.run, but a timeout kills the whole process group.

    nsenter forks into the machine's PID namespace, so killing nsenter alone would leave the
    command running inside the machine.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        raise ExecError(proc.returncode, argv[-1], stdout, stderr)
    return result


def _stop_process(proc: subprocess.Popen[bytes] | None, sig: signal.Signals, grace: float) -> None:
    """Send sig, wait up to grace seconds, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10.0)


def _wait_gone(pid: int, timeout: float) -> None:
    """Wait until pid has exited (a zombie counts: its reaper is not us)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return
        time.sleep(0.05)
