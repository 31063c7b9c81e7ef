"""The server's host keys this machine trusts: learned only over a session whose host key was
verified, and added to known_hosts for the address and port the next session uses."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from wizard.shell import Shell, sh

# What a host key line from the server may be: the two types ssh-hardening keeps, plain base64.
HOST_KEY_LINE = re.compile(r"(ssh-ed25519|ssh-rsa) ([A-Za-z0-9+/]+={0,2})(?: .*)?")


def host_keys_script() -> Shell:
    """The server's ed25519 and RSA public host keys (the ones ssh-hardening keeps)."""
    return sh("cat /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_rsa_key.pub 2>/dev/null")


def parse_host_keys(text: str) -> list[tuple[str, str]]:
    """(type, base64) of each well-formed ed25519 or RSA public key line; anything else the
    server printed is ignored."""
    found = []
    for line in text.splitlines():
        match = HOST_KEY_LINE.fullmatch(line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def trust(known_hosts: Path, name: str, keys: Iterable[tuple[str, str]]) -> None:
    """Add each (type, base64) key for `name` (as known_hosts names a host and port) unless
    known_hosts has that line already."""
    existing = known_hosts.read_text().splitlines() if known_hosts.exists() else []
    lines = [f"{name} {kind} {blob}" for kind, blob in keys]
    new = [line for line in dict.fromkeys(lines) if line not in existing]
    if new:
        known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with known_hosts.open("a") as handle:
            handle.write("".join(line + "\n" for line in new))
