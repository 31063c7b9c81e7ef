"""sshd's configuration as the server has it: which lines override the ssh-hardening drop-in,
and which algorithms both the server and the wizard speak.

sshd keeps the first value it reads for most keywords, reads sshd_config top to bottom with
the drop-ins of its Include in name order at the Include line, adds up every Port and HostKey
line, and lets a Match block override the global value for the connections it matches. A
provider's 00-provider.conf or a line above the Include therefore beats the wizard's
00-vps-wizard.conf. The functions here find those lines in the server's text (data, never
run) so that the step rewrites them commented, in the reviewed diff.

Pure functions: the templates call them (wizard.render registers them as Jinja globals).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wizard.errors import WizardError

SSHD_CONFIG = "/etc/ssh/sshd_config"
DROPIN_DIR = "/etc/ssh/sshd_config.d"
MARKER = "#vps-wizard(ssh-hardening) turned off: "

# The keywords the ssh-hardening drop-in sets (lower case, as sshd compares them).
MANAGED = frozenset(
    {
        "port",
        "permitrootlogin",
        "pubkeyauthentication",
        "passwordauthentication",
        "kbdinteractiveauthentication",
        "challengeresponseauthentication",  # the old name of kbdinteractiveauthentication
        "authenticationmethods",
        "permitemptypasswords",
        "maxauthtries",
        "logingracetime",
        "clientaliveinterval",
        "clientalivecountmax",
        "loglevel",
        "x11forwarding",
        "allowtcpforwarding",
        "allowagentforwarding",
        "permituserenvironment",
        "debianbanner",
        "hostkey",
        "hostkeyalgorithms",
        "kexalgorithms",
        "ciphers",
        "macs",
    }
)
# Every line of these adds a value (one more port, one more host key): wherever it is, it
# changes what sshd does.
CUMULATIVE = frozenset({"port", "hostkey"})

# Preferred first. Post-quantum hybrids lead: a client that has one uses it. Group exchange
# (diffie-hellman-group-exchange-*) is left out, so /etc/ssh/moduli is never used.
PREFERRED: Mapping[str, tuple[str, ...]] = {
    "kex": (
        "mlkem768x25519-sha256",
        "sntrup761x25519-sha512",
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
        "diffie-hellman-group18-sha512",
        "diffie-hellman-group16-sha512",
    ),
    "cipher": (
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
    ),
    "mac": (
        "hmac-sha2-512-etm@openssh.com",
        "hmac-sha2-256-etm@openssh.com",
        "umac-128-etm@openssh.com",
    ),
}
# What OpenSSH 9.2 (Debian 12, the oldest release supported) lists, for a server whose
# `ssh -Q` printed nothing.
BASELINE: Mapping[str, frozenset[str]] = {
    "kex": frozenset(
        {
            "sntrup761x25519-sha512@openssh.com",
            "curve25519-sha256",
            "curve25519-sha256@libssh.org",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group16-sha512",
        }
    ),
    "cipher": frozenset(PREFERRED["cipher"]),
    "mac": frozenset(PREFERRED["mac"]),
}
MIN_RSA_BITS = 3072


def wizard_speaks(kind: str) -> frozenset[str]:
    """The algorithms of `kind` (kex, cipher, mac) the wizard's own SSH client negotiates."""
    # Imported here, not at start-up: paramiko and cryptography cost a tenth of a second,
    # which the first screen must not wait for.
    import paramiko

    transport = paramiko.Transport
    names = {
        "kex": transport._preferred_kex,
        "cipher": transport._preferred_ciphers,
        "mac": transport._preferred_macs,
    }[kind]
    return frozenset(names)


def sshd_algorithms(
    kind: str, server: Iterable[str], wizard: Iterable[str] | None = None
) -> list[str]:
    """The algorithms of `kind` to offer: the preferred ones the server's sshd lists.

    At least one of them must be one the wizard speaks, or the wizard could not log in
    afterwards: then a WizardError says so and nothing is planned.
    """
    listed = {name.strip() for name in server if name.strip()} or BASELINE[kind]
    chosen = [name for name in PREFERRED[kind] if name in listed]
    speaks = wizard_speaks(kind) if wizard is None else frozenset(wizard)
    if not any(name in speaks for name in chosen):
        raise WizardError(
            f"ssh-hardening: the server's sshd offers no {kind} algorithm that both is modern "
            f"and that the wizard speaks (server: {', '.join(sorted(listed)) or '(none)'})",
            "upgrade openssh-server on the server (sudo apt-get install openssh-server), "
            "then plan the step again",
        )
    return chosen


@dataclass(frozen=True)
class Override:
    """One line of the server's configuration that defeats a managed setting."""

    path: str
    line: int  # 1-based
    text: str
    why: str

    def describe(self) -> str:
        """`path:line: text (why)` for the review."""
        return f"{self.path}:{self.line}: {self.text.strip()} ({self.why})"


_KEYWORD = re.compile(r"\s*([A-Za-z0-9]+)\s*(?:=|\s|$)")


def keyword(line: str) -> str:
    """The keyword of a configuration line, lower case; "" for blanks and comments."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return ""
    found = _KEYWORD.match(stripped)
    return found.group(1).lower() if found else ""


def _read_order(files: Mapping[str, str], ours: str) -> list[tuple[str, bool]]:
    """The drop-ins other than ours in the order sshd reads them (name order, as its glob),
    each with whether it comes before ours."""
    dropins = sorted(p for p in files if posixpath.dirname(p) == DROPIN_DIR and p != ours)
    order = [(p, posixpath.basename(p) < posixpath.basename(ours)) for p in dropins]
    return order


def find_overrides(
    files: Mapping[str, str], ours: str, managed: Iterable[str] = MANAGED
) -> list[Override]:
    """The lines of the server's sshd configuration that override the drop-in `ours`.

    `files` maps sshd_config and the drop-ins' paths to their text. A line overrides when it
    sets a managed keyword and: it is read before `ours` (in sshd_config above its Include, or
    in a drop-in whose name sorts first), or it is inside a Match block (anywhere), or its
    keyword adds a value wherever it is (Port, HostKey).
    """
    keys = {k.lower() for k in managed}
    found: list[Override] = []

    def scan(path: str, before: bool, stop_at_include: bool) -> None:
        in_match = False
        include_seen = False
        # sshd splits lines at newlines only (str.splitlines would also split at \f, \x1c...).
        for number, line in enumerate(files.get(path, "").split("\n"), 1):
            key = keyword(line)
            if key == "include" and stop_at_include and not in_match and DROPIN_DIR in line:
                include_seen = True  # the Include of the drop-ins: ours is read here
                continue
            if key == "match":
                in_match = True
                continue
            if key not in keys:
                continue
            read_before = before and not include_seen
            if in_match:
                why = "in a Match block, it overrides the global value"
            elif key in CUMULATIVE:
                why = f"every {line.split()[0]} line adds one"
            elif read_before:
                why = "read before " + posixpath.basename(ours) + ": sshd keeps the first value"
            else:
                continue
            found.append(Override(path, number, line, why))

    scan(SSHD_CONFIG, before=True, stop_at_include=True)
    for path, before in _read_order(files, ours):
        scan(path, before=before, stop_at_include=False)
    return found


def neutralised(text: str, lines: Iterable[int]) -> str:
    """The text with the given 1-based lines commented out behind the marker."""
    wanted = set(lines)
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        out.append(MARKER + line.lstrip() if number in wanted else line)
    return "\n".join(out)


def sshd_overrides(
    files: Mapping[str, str], ours: str, managed: Iterable[str] = MANAGED
) -> list[dict[str, Any]]:
    """Per file with overriding lines: its path, the lines (for the review), the new text.

    The template global of the ssh-hardening step: each item becomes one file of the step.
    """
    overrides = find_overrides(files, ours, managed)
    result = []
    for path in dict.fromkeys(o.path for o in overrides):
        mine = [o for o in overrides if o.path == path]
        result.append(
            {
                "path": path,
                "lines": [o.describe() for o in mine],
                "text": neutralised(files[path], (o.line for o in mine)),
            }
        )
    return result


def rsa_ok(bits: object) -> bool:
    """Whether the RSA host key (its size in bits as the facts give it) is strong enough."""
    try:
        return int(str(bits)) >= MIN_RSA_BITS
    except ValueError:
        return False


def template_globals() -> dict[str, Any]:
    """The functions the step templates may call."""
    return {
        "sshd_overrides": sshd_overrides,
        "sshd_algorithms": sshd_algorithms,
        "sshd_rsa_ok": rsa_ok,
    }


def parse_sshd_facts(lines: Sequence[str]) -> dict[str, Any]:
    """The facts script's @@SSHD lines: version, `ssh -Q` lists, host RSA size, config files.

    Each line is `KIND base64(name) base64(value)` or `KIND value`; file names and texts are
    server data, decoded as text, never run.
    """
    import base64
    import binascii

    facts: dict[str, Any] = {
        "version": "",
        "kex": [],
        "cipher": [],
        "mac": [],
        "rsa_bits": 0,
        "files": {},
    }
    for raw in lines:
        kind, _, rest = raw.partition(" ")
        if kind in ("kex", "cipher", "mac"):
            facts[kind] = rest.split()
        elif kind == "version":
            facts["version"] = rest.strip()
        elif kind == "rsa_bits":
            facts["rsa_bits"] = int(rest) if rest.strip().isdigit() else 0
        elif kind == "file":
            name64, _, text64 = rest.partition(" ")
            try:
                name = base64.b64decode(name64).decode()
                text = base64.b64decode(text64).decode(errors="replace")
            except (binascii.Error, UnicodeDecodeError):
                continue
            if name == SSHD_CONFIG or posixpath.dirname(name) == DROPIN_DIR:
                facts["files"][name] = text
    return facts
