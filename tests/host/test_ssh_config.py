"""~/.ssh/config is honoured: an alias with HostName, User, IdentityFile; and a ProxyJump."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.host


def test_alias_and_proxyjump_from_ssh_config(fresh_testhost, wizard_factory, tmp_path):
    host = fresh_testhost
    wizard = wizard_factory(host)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    # The jump goes through the server itself to its own loopback: a bastion on one machine.
    (home / ".ssh" / "config").write_text(
        f"Host myvps\n  HostName {host.address}\n  User root\n  IdentityFile {host.root_key_path}\n"
        f"Host behind\n  HostName 127.0.0.1\n  User root\n  ProxyJump root@{host.address}\n"
        f"  IdentityFile {host.root_key_path}\n"
    )
    wizard.known_hosts.write_text(
        host.known_hosts_line + "\n" + host.known_hosts_entry("127.0.0.1", 22) + "\n"
    )
    env = {"HOME": str(home)}
    direct = wizard.cli("status", "myvps", "--json", env=env)
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["host"] == host.address
    assert json.loads(direct.stdout)["host_key"].startswith("SHA256:")

    jumped = wizard.cli("status", "behind", "--json", env=env)
    assert jumped.returncode == 0, jumped.stderr
    assert json.loads(jumped.stdout)["host"] == "127.0.0.1"
