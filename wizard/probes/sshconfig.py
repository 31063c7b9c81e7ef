"""What ~/.ssh/config says about the server: the host to open the checks' sockets to."""

from __future__ import annotations

import paramiko

from wizard.endpoint import SSH_CONFIG


def server_host(address: str) -> str:
    """The host name or address to open sockets to: ~/.ssh/config's HostName for an alias.

    The main session resolves aliases the same way, and records host keys under that name.
    """
    path = SSH_CONFIG.expanduser()
    if not path.exists():
        return address
    return str(paramiko.SSHConfig.from_path(str(path)).lookup(address).get("hostname", address))
