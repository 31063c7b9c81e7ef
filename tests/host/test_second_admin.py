"""Applying admin-user again with another name adds a second admin and makes it the wizard's
login: the plan says so, `apply` asks for it on a terminal, and --yes says it in its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import REPO, Wizard, apply_ok

pytestmark = pytest.mark.host
QUICK = REPO / "tests" / "host" / "quick.toml"


def answers_for(tmp_path, username: str):
    """quick.toml's base with another admin name."""
    path = tmp_path / f"{username}.toml"
    path.write_text(
        '[base]\nfqdn = "test.example.net"\ntimezone = "UTC"\nupgrade = false\n\n'
        f'[admin-user]\nusername = "{username}"\n'
    )
    return path


def apply_on_a_terminal(wizard: Wizard, target: str, answers, replies: str):
    """`apply --step admin-user` with a terminal on stdin, the replies typed ahead."""
    controller, terminal = os.openpty()
    os.write(controller, replies.encode())
    try:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "wizard.cli",
                "apply",
                target,
                "--answers",
                str(answers),
                "--step",
                "admin-user",
                *("-i", str(wizard.key), "--known-hosts", str(wizard.known_hosts)),
                *("--state", str(wizard.state)),
            ],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
            env={**os.environ, "XDG_CONFIG_HOME": str(wizard.config_home)},
        )
    finally:
        os.close(terminal)
        os.close(controller)


def test_a_second_admin_is_said_asked_and_reported(tmp_path):
    host = boot_free("vwb", range(160, 176))
    try:
        wizard = Wizard(host, tmp_path)
        wizard.trust_host()
        target = f"root@{host.address}"
        apply_ok(wizard, target, ["base", "admin-user"], QUICK)

        bob = answers_for(tmp_path, "bob")
        plan = wizard.cli("plan", target, "--answers", str(bob), "--step", "admin-user")
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "! bob would be added as a second admin: admin stays an admin" in plan.stdout
        assert "the wizard would log in as bob from then on instead of admin" in plan.stdout
        as_json = wizard.cli(
            "plan", target, "--answers", str(bob), "--step", "admin-user", "--json"
        )
        [planned] = [p for p in json.loads(as_json.stdout) if p["step"] == "admin-user"]
        assert "bob would be added as a second admin" in planned["second_admin"]

        # On a terminal, yes to the step is not enough: the second admin is asked for itself.
        refused = apply_on_a_terminal(wizard, target, bob, "y\nn\n")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "Add bob as a second admin and log in as bob from now on? [y/N]" in refused.stdout
        assert "stopped; nothing more was changed." in refused.stdout
        assert host.exec("id -u bob", check=False).returncode != 0

        # With --yes it is in the output, and it happens: both admins, the wizard's login bob.
        applied = apply_ok(wizard, target, ["admin-user"], bob)
        assert "! bob would be added as a second admin: admin stays an admin" in applied
        assert host.exec("id -nG admin").stdout.split().count("sudo") == 1
        assert host.exec("id -nG bob").stdout.split().count("sudo") == 1
        status = wizard.cli("status", target, "--json")
        assert json.loads(status.stdout)["admin_user"] == "bob"

        # --json says it in the step's entry.
        carol = answers_for(tmp_path, "carol")
        result = wizard.cli(
            "apply", target, "--answers", str(carol), "--step", "admin-user", "--yes", "--json"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        [entry] = [s for s in json.loads(result.stdout)["steps"] if s["step"] == "admin-user"]
        assert "carol would be added as a second admin: bob stays an admin" in entry["second_admin"]
    finally:
        host.stop()
