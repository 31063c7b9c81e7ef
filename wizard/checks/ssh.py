"""Checks of SSH: the effective sshd settings, and logins tried from the outside.

The outside checks open their own connections from the wizard's machine, as an attacker or the
user would: a new session as the admin user, root with the user's keys, and the authentication
methods offered before any key is shown. Every connection verifies the server's host key
against known_hosts; none ever adds an unknown key.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import paramiko

from wizard.checks.base import CheckContext, CheckResult, check, fail, ok, warn
from wizard.errors import HostKeyChanged, UnknownHostKey, WizardError
from wizard.probes.sshconfig import server_host
from wizard.remote import CONNECT_TIMEOUT, Remote, Target, fingerprint, known_hosts_name
from wizard.shell import code

RERUN_HARDENING = "run the ssh-hardening step again"
# sshd closes the connection after MaxAuthTries failures (3 after ssh-hardening).
MAX_KEYS_TRIED = 3
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


def unreachable(check_id: str, address: str, port: int, error: BaseException) -> CheckResult:
    """The fail result of a check that could not reach sshd from the outside."""
    return fail(
        check_id,
        f"could not reach sshd on {address} port {port} from here",
        f"{type(error).__name__}: {error}",
        f"check that sshd listens on port {port} (sudo ss -tlnp) and that the firewall step "
        "opened it; then run verify again",
    )


# ----------------------------------------------------------------------------- host keys


def host_key_refused(check_id: str, error: WizardError, where: str) -> CheckResult:
    """The fail result of a check whose new connection met an untrusted host key."""
    return fail(
        check_id,
        "the server's host key is not the trusted one: the connection was refused",
        f"{where}: {error.message}",
        error.hint,
    )


def host_key_problem(
    presented: paramiko.PKey, known: Mapping[str, paramiko.PKey], session_fingerprint: str
) -> str:
    """Why the presented host key must be refused, or "" if it is trusted.

    Trusted: the key known_hosts records for this host and port, or, when it records none of
    that type, the very key the wizard's own (already verified) session shows.
    """
    presented_fp = fingerprint(presented)
    expected = known.get(presented.get_name())
    if expected is not None:
        if expected.asbytes() == presented.asbytes():
            return ""
        return (
            f"the host key changed: known_hosts has {fingerprint(expected)}, "
            f"the server shows {presented_fp}"
        )
    if presented_fp == session_fingerprint:
        return ""
    return f"the host key {presented.get_name()} {presented_fp} is not in known_hosts"


def known_keys(known_hosts: Path, name: str) -> dict[str, paramiko.PKey]:
    """The host keys known_hosts records for `name`, by key type."""
    keys = paramiko.HostKeys()
    if known_hosts.exists():
        keys.load(str(known_hosts))
    entry = keys.lookup(name)
    return {key_type: entry[key_type] for key_type in entry} if entry else {}


def outside_transport(ctx: CheckContext, port: int) -> paramiko.Transport:
    """A new SSH transport to the server (not yet authenticated), its host key verified.

    Raises OSError or SSHException if the server cannot be reached, HostKeyChanged if its key
    is not the trusted one.
    """
    host = server_host(ctx.address)
    known = known_keys(ctx.known_hosts, known_hosts_name(host, port))
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = CONNECT_TIMEOUT
        transport.auth_timeout = CONNECT_TIMEOUT
        options = transport.get_security_options()
        # Ask for the key type known_hosts records, as OpenSSH does; RSA keys are recorded as
        # ssh-rsa but negotiated as rsa-sha2-*.
        wanted = [t for t in known if t != "ssh-rsa"]
        if "ssh-rsa" in known:
            wanted += ["rsa-sha2-512", "rsa-sha2-256"]
        preferred = [t for t in wanted if t in options.key_types]
        options.key_types = preferred + [t for t in options.key_types if t not in preferred]
        transport.start_client(timeout=CONNECT_TIMEOUT)
        problem = host_key_problem(
            transport.get_remote_server_key(), known, ctx.remote.host_fingerprint
        )
        if problem:
            hint = (
                "if the server was reinstalled, compare the fingerprint with your provider's "
                f"console, then: ssh-keygen -R '{known_hosts_name(host, port)}'"
                if known
                else f"port {port} does not lead to the server of the wizard's session; check "
                f"the address and any forwarding with: ssh-keyscan -p {port} {host}"
            )
            raise HostKeyChanged(f"{host} port {port}: {problem}; the connection was refused", hint)
    except BaseException:
        transport.close()
        raise
    return transport


# ----------------------------------------------------------------------------- ssh.login


def judge_login(
    user: str,
    where: str,
    connect_error: str,
    sudo_exit: int | None,
    sudo_output: str,
    connect_hint: str = "",
    sudo_password_given: bool = False,
) -> CheckResult:
    """A brand-new session as `user` opened, and sudo worked in it.

    `connect_hint` is the connection error's own advice; `sudo_password_given` says whether
    sudo was given the password the user typed (else it had to work without one).
    """
    cid = "ssh.login"
    if connect_error:
        key_hint = (
            f"run the admin-user step again so that {user} has your public key in "
            f"~{user}/.ssh/authorized_keys; compare it with `ssh-add -l` on this machine"
        )
        # A refused login is about the account's key; anything else (no answer, no route)
        # is better explained by the connection error's own advice.
        refused = "refused" in connect_error or not connect_hint
        return fail(
            cid,
            f"a new SSH session as {user} failed",
            f"{where}: {connect_error}",
            key_hint if refused else connect_hint,
        )
    if sudo_exit != 0:
        if sudo_password_given:
            hint = (
                f"sudo refused the password given for {user}: run the wizard again with "
                f"--ask-sudo-password and {user}'s password (set it with sudo passwd {user})"
            )
        else:
            hint = (
                f"run the admin-user step again (it adds {user} to the sudo group and writes "
                f"/etc/sudoers.d/90-vps-wizard-{user}); if sudo should ask a password, run "
                "the wizard with --ask-sudo-password"
            )
        return fail(
            cid,
            f"{user} logs in, but sudo does not work",
            f"{where}: sudo exited {sudo_exit}: {sudo_output.strip()[-500:] or '(no output)'}",
            hint,
        )
    return ok(cid, f"{user} logs in with the key and sudo works", f"{where}: sudo true exited 0")


@check("ssh.login")
def login_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """A brand-new session as the user opens with the key, and sudo works in it."""
    user = str(params["user"])
    port = ctx.reach_port(params.get("port"))
    where = f"{user}@{ctx.address} port {port}"
    try:
        if port != ctx.port:
            session = Remote.connect(
                Target(ctx.address, user, port), ctx.credentials, ctx.known_hosts
            )
        else:
            session = ctx.connect_as(user)
    except (HostKeyChanged, UnknownHostKey) as error:
        # Not a problem of the user's account: the server's identity is in doubt.
        return host_key_refused("ssh.login", error, where)
    except WizardError as error:
        return judge_login(user, where, error.message, None, "", connect_hint=error.hint)
    password = ctx.credentials.sudo_password
    try:
        # The session's own sudo, as every step uses it: the password (when the user gave
        # one) goes to sudo only when it asks. A refusal raises with sudo's reason.
        result = session.run(code("true"), sudo=True, timeout=30)
    except WizardError as error:
        return judge_login(user, where, "", -1, error.message, sudo_password_given=bool(password))
    finally:
        session.close()
    return judge_login(
        user, where, "", result.exit_code, result.stderr, sudo_password_given=bool(password)
    )


# ----------------------------------------------------------------------------- effective_config

WEAK_KEX = ("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1")


def is_weak_algorithm(kind: str, name: str) -> bool:
    """Whether an algorithm of `kind` (kexalgorithms, ciphers, macs) is weak or unwanted."""
    name = name.lower()
    if any(bad in name for bad in ("sha1", "md5", "cbc", "3des", "arcfour", "umac-64")):
        return True
    if kind == "kexalgorithms":
        return name in WEAK_KEX or name.startswith("ecdh-sha2-nistp")
    # Encrypt-then-MAC only: the others MAC the plaintext, as in the SSH binary packet attacks.
    return kind == "macs" and "-etm@" not in name


def parse_sshd_settings(output: str) -> dict[str, list[str]]:
    """`sshd -T` output as {keyword: [value per line]} (Port and others may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            settings.setdefault(key.lower(), []).append(value.strip())
    return settings


def judge_sshd_config(
    output: str, exit_code: int, port: int, allow_x11: bool, allow_tcp_forwarding: bool
) -> CheckResult:
    """The effective sshd settings are the hardened ones the step asked for."""
    cid = "ssh.effective_config"
    if exit_code != 0:
        return fail(
            cid,
            "sshd -T could not read the configuration",
            output.strip()[-1000:],
            "sudo sshd -t names the faulty line; fix it or run the ssh-hardening step again",
        )
    settings = parse_sshd_settings(output)

    def first(key: str) -> str:
        return settings.get(key, [""])[0].lower()

    # Older sshd prints the deprecated name only.
    kbd_key = (
        "kbdinteractiveauthentication"
        if "kbdinteractiveauthentication" in settings
        else "challengeresponseauthentication"
    )
    tcp_wanted = ("yes", "all") if allow_tcp_forwarding else ("no",)
    expected = {
        "permitrootlogin": ("no",),
        "passwordauthentication": ("no",),
        kbd_key: ("no",),
        "pubkeyauthentication": ("yes",),
        "x11forwarding": ("yes",) if allow_x11 else ("no",),
        "allowtcpforwarding": tcp_wanted,
    }
    wrong = [
        f"{key} {first(key) or '(unset)'}"
        for key, good in expected.items()
        if first(key) not in good
    ]
    ports = settings.get("port", [])
    if str(port) not in ports:
        wrong.append(f"port {' '.join(ports) or '(unset)'} (expected {port})")
    weak = [
        f"{kind}: {name}"
        for kind in ("kexalgorithms", "ciphers", "macs")
        for name in first(kind).split(",")
        if name and is_weak_algorithm(kind, name)
    ]
    evidence = "\n".join(
        f"{key} {' '.join(settings.get(key, ['(unset)']))}"
        for key in (*expected, "port", "kexalgorithms", "ciphers", "macs")
    )
    if wrong or weak:
        summary = "; ".join(
            part
            for part in (
                f"sshd runs with {', '.join(wrong)}" if wrong else "",
                f"weak algorithms offered: {', '.join(weak)}" if weak else "",
            )
            if part
        )
        return fail(
            cid,
            summary,
            evidence,
            f"{RERUN_HARDENING}: its plan shows, by file and line, the lines of other files "
            "that override its drop-in (sshd keeps the first value it reads; Match blocks "
            "override it) and comments them out. To look by hand: "
            "sudo grep -ri -e <setting> /etc/ssh/sshd_config /etc/ssh/sshd_config.d",
        )
    return ok(cid, "sshd runs with the hardened settings", evidence)


@check("ssh.effective_config")
def effective_config_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """sshd's effective settings (`sshd -T`, not the files) are the hardened ones."""
    result = ctx.remote.run(code("sshd -T 2>&1"), timeout=30)
    return judge_sshd_config(
        result.stdout,
        result.exit_code,
        int(params["port"]),
        bool(params["allow_x11"]),
        bool(params["allow_tcp_forwarding"]),
    )


# ----------------------------------------------------------------------------- root_refused

Outcome = Literal["refused", "accepted", "closed"]


def judge_root_refused(attempts: Sequence[tuple[str, Outcome]]) -> CheckResult:
    """Every key tried as root was refused."""
    cid = "ssh.root_refused"
    evidence = "\n".join(f"root with {label}: {outcome}" for label, outcome in attempts)
    accepted = [label for label, outcome in attempts if outcome == "accepted"]
    if accepted:
        return fail(
            cid,
            "root can log in over SSH",
            evidence,
            f"{RERUN_HARDENING}: it sets PermitRootLogin no. Check with "
            "sudo sshd -T | grep permitrootlogin",
        )
    if not any(outcome == "refused" for _, outcome in attempts):
        return warn(
            cid,
            "no key could be tried as root",
            evidence or "no private key file and no ssh-agent key on this machine",
            "load the key you log in with into ssh-agent (ssh-add ~/.ssh/id_ed25519), "
            "then verify again",
        )
    return ok(cid, "root login is refused", evidence)


def client_keys(key_filename: str | None, use_agent: bool) -> list[tuple[str, paramiko.PKey]]:
    """The user's private keys: the key file (or the default ones), then the agent's."""
    keys: list[tuple[str, paramiko.PKey]] = []
    paths = (
        [key_filename] if key_filename else [str(Path(p).expanduser()) for p in DEFAULT_IDENTITIES]
    )
    for path in paths:
        try:
            keys.append((path, paramiko.PKey.from_path(path)))
        except (OSError, paramiko.SSHException):
            continue  # missing, or protected by a passphrase: the agent may hold it
    if use_agent:
        agent = paramiko.Agent()
        try:
            keys += [(f"agent key {fingerprint(key)}", key) for key in agent.get_keys()]
        finally:
            agent.close()
    unique: dict[str, tuple[str, paramiko.PKey]] = {}
    for label, key in keys:
        unique.setdefault(fingerprint(key), (label, key))
    return list(unique.values())


def try_keys(
    transport: paramiko.Transport, user: str, keys: Iterable[tuple[str, paramiko.PKey]]
) -> list[tuple[str, Outcome]]:
    """Try each key as `user` on one transport; stop at a success or when sshd hangs up."""
    attempts: list[tuple[str, Outcome]] = []
    for label, key in keys:
        try:
            transport.auth_publickey(user, key)
        except paramiko.AuthenticationException:
            attempts.append((label, "refused"))
            continue
        except (paramiko.SSHException, EOFError, OSError):
            attempts.append((label, "closed"))
            break
        attempts.append((label, "accepted"))
        break
    return attempts


@check("ssh.root_refused")
def root_refused_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From the outside, root cannot log in with the user's keys."""
    port = ctx.reach_port(params.get("port"))
    keys = client_keys(ctx.credentials.key_filename, ctx.credentials.use_agent)[:MAX_KEYS_TRIED]
    try:
        transport = outside_transport(ctx, port)
    except HostKeyChanged as error:
        return host_key_refused("ssh.root_refused", error, f"{ctx.address} port {port}")
    except (OSError, paramiko.SSHException, EOFError) as error:
        return unreachable("ssh.root_refused", ctx.address, port, error)
    try:
        return judge_root_refused(try_keys(transport, "root", keys))
    finally:
        transport.close()


# ----------------------------------------------------------------------------- password_refused


def judge_password_refused(user: str, allowed: Sequence[str] | None) -> CheckResult:
    """The server offers `user` neither passwords nor keyboard-interactive (None: no auth asked)."""
    cid = "ssh.password_refused"
    if allowed is None:
        return fail(
            cid,
            f"the server let {user} in without any authentication",
            "auth method 'none' succeeded",
            f"{RERUN_HARDENING} and check: sudo sshd -T | grep -i -e permitempty -e authentication",
        )
    evidence = f"methods offered to {user}: {', '.join(allowed) or '(none)'}"
    offered = [m for m in ("password", "keyboard-interactive") if m in allowed]
    if offered:
        return fail(
            cid,
            f"the server still offers {' and '.join(offered)} logins",
            evidence,
            f"{RERUN_HARDENING}: it turns PasswordAuthentication and "
            "KbdInteractiveAuthentication off. Check with sudo sshd -T | grep authentication",
        )
    return ok(cid, "password logins are refused", evidence)


@check("ssh.password_refused")
def password_refused_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From the outside, sshd offers no password or keyboard-interactive login."""
    port = ctx.reach_port(params.get("port"))
    user = str(params["user"])
    try:
        transport = outside_transport(ctx, port)
    except HostKeyChanged as error:
        return host_key_refused("ssh.password_refused", error, f"{ctx.address} port {port}")
    except (OSError, paramiko.SSHException, EOFError) as error:
        return unreachable("ssh.password_refused", ctx.address, port, error)
    try:
        # "none" is how a client asks which methods the server would accept for this user.
        transport.auth_none(user)
        allowed: list[str] | None = None
    except paramiko.BadAuthenticationType as error:
        allowed = list(error.allowed_types)
    except (paramiko.SSHException, EOFError, OSError) as error:
        return unreachable("ssh.password_refused", ctx.address, port, error)
    finally:
        transport.close()
    return judge_password_refused(user, allowed)


# ----------------------------------------------------------------------------- algorithms

# Names in a KEXINIT's key exchange list that are signals, not algorithms.
KEX_SIGNALS = ("ext-info-", "kex-strict-")
HOST_KEY_ALGORITHMS = ("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256")
MIN_RSA_BITS = 3072
KEXINIT = 20
NAME_LISTS = ("kex", "hostkey", "cipher", "cipher_s2c", "mac", "mac_s2c")


def parse_kexinit(payload: bytes) -> dict[str, list[str]]:
    """The name lists of an SSH_MSG_KEXINIT payload (RFC 4253, 7.1), by kind."""
    if not payload or payload[0] != KEXINIT:
        raise ValueError("the server's first packet is not a KEXINIT")
    offset = 17  # message number and cookie
    lists: dict[str, list[str]] = {}
    for kind in NAME_LISTS:
        length = int.from_bytes(payload[offset : offset + 4], "big")
        text = payload[offset + 4 : offset + 4 + length]
        if len(text) != length:
            raise ValueError("the server's KEXINIT is cut short")
        lists[kind] = [name for name in text.decode("ascii", "replace").split(",") if name]
        offset += 4 + length
    lists["kex"] = [n for n in lists["kex"] if not n.startswith(KEX_SIGNALS)]
    return lists


def read_kexinit(host: str, port: int) -> tuple[str, dict[str, list[str]]]:
    """The server's banner and the algorithms its KEXINIT offers, before any key exchange."""
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as sock:
        sock.settimeout(CONNECT_TIMEOUT)
        buffer = b""
        banner = ""
        while not banner:
            chunk = sock.recv(4096)
            if not chunk:
                raise EOFError("the server closed the connection before its banner")
            buffer += chunk
            while b"\n" in buffer and not banner:
                line, buffer = buffer.split(b"\n", 1)
                if line.startswith(b"SSH-"):
                    banner = line.decode("ascii", "replace").strip()
        sock.sendall(b"SSH-2.0-vps-wizard-check\r\n")
        while len(buffer) < 5 or len(buffer) < 4 + int.from_bytes(buffer[:4], "big"):
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection before its KEXINIT")
            buffer += chunk
        length = int.from_bytes(buffer[:4], "big")
        padding = buffer[4]
        return banner, parse_kexinit(buffer[5 : 4 + length - padding])


def judge_algorithms(
    offered: Mapping[str, Sequence[str]],
    expected: Mapping[str, Sequence[str]],
    rsa_bits: int | None,
    banner: str = "",
) -> CheckResult:
    """The server offers exactly the chosen key exchange, ciphers and MACs, and host keys
    ed25519 and RSA of at least 3072 bits only."""
    cid = "ssh.algorithms"
    problems = []
    for kind in ("kex", "cipher", "mac"):
        want = list(expected.get(kind, ()))
        got = list(offered.get(kind, ()))
        extra = [name for name in got if name not in want]
        missing = [name for name in want if name not in got]
        if extra:
            problems.append(f"{kind} not chosen: {', '.join(extra)}")
        if missing:
            problems.append(f"{kind} chosen but not offered: {', '.join(missing)}")
    odd_keys = [n for n in offered.get("hostkey", ()) if n not in HOST_KEY_ALGORITHMS]
    if odd_keys:
        problems.append(f"host key types other than ed25519 and RSA: {', '.join(odd_keys)}")
    if rsa_bits is not None and rsa_bits < MIN_RSA_BITS:
        problems.append(f"the RSA host key has {rsa_bits} bits (fewer than {MIN_RSA_BITS})")
    # "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10": the comment names the system and its patch
    # level, which helps pick an exploit (DebianBanner no leaves the version alone).
    _, _, comment = banner.partition(" ")
    if comment:
        problems.append(f"a banner that names the system ({comment})")
    evidence = "\n".join([f"banner: {banner}"] if banner else []) + "".join(
        f"\n{kind}: {', '.join(offered.get(kind, ())) or '(none)'}"
        for kind in ("kex", "hostkey", "cipher", "mac")
    )
    if rsa_bits is not None:
        evidence += f"\nRSA host key: {rsa_bits} bits"
    evidence = evidence.strip()
    if problems:
        return fail(
            cid,
            "sshd offers " + "; ".join(problems),
            evidence,
            f"{RERUN_HARDENING}: its plan turns off the lines of other files that set "
            "algorithms or host keys. Check with sudo sshd -T | grep -i -e algorithms "
            "-e ciphers -e macs -e hostkey (and DebianBanner no for the banner)",
        )
    return ok(cid, "sshd offers only the chosen algorithms and host keys", evidence)


def rsa_host_key_bits(host: str, port: int) -> int:
    """The size of the RSA host key the server shows (raises when it shows none)."""
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = CONNECT_TIMEOUT
        transport.get_security_options().key_types = ("rsa-sha2-512", "rsa-sha2-256")
        transport.start_client(timeout=CONNECT_TIMEOUT)
        return int(transport.get_remote_server_key().get_bits())
    finally:
        transport.close()


@check("ssh.algorithms")
def algorithms_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From the outside, what sshd's KEXINIT offers is what the step chose for this server."""
    port = ctx.reach_port(params.get("port"))
    host = server_host(ctx.address)
    try:
        banner, offered = read_kexinit(host, port)
        rsa = any(n.startswith("rsa-") or n == "ssh-rsa" for n in offered["hostkey"])
        rsa_bits = rsa_host_key_bits(host, port) if rsa else None
    except (OSError, EOFError, ValueError, paramiko.SSHException) as error:
        return unreachable("ssh.algorithms", ctx.address, port, error)
    expected = {kind: list(params.get(kind) or ()) for kind in ("kex", "cipher", "mac")}
    return judge_algorithms(offered, expected, rsa_bits, banner)
