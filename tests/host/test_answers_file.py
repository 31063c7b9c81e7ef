"""A whole answers file is checked before anything changes on the server (issue 8, finding 9).

Before, `apply` of a file holding base, admin-user and a bad ssh-hardening port applied base
and admin-user, then refused the port. Now the file is refused whole: a value its type refuses
before the wizard connects, a rule that needs the server's facts (the address the user connects
from) once connected but before the first step runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.host.harness import Wizard

pytestmark = pytest.mark.host
RUNS = "/var/lib/vps-wizard/runs"
FIRST_STEPS = """\
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false

[admin-user]
username = "admin"
"""


def untouched(wizard: Wizard) -> tuple[str, str, str]:
    """What the first steps would change: the host name, the admin, the wizard's runs."""
    host = wizard.host
    hostname = host.exec("cat /etc/hostname").stdout
    admin = host.exec("getent passwd admin || echo none", check=False).stdout
    runs = host.exec(f"ls -A {RUNS} 2>/dev/null || echo none", check=False).stdout
    return hostname, admin, runs


def apply_refused(wizard: Wizard, tmp_path: Path, answers: str) -> str:
    """Apply the answers with --yes; it must exit 1 with a reason: its stderr."""
    path = tmp_path / "answers.toml"
    path.write_text(answers)
    result = wizard.cli("apply", f"root@{wizard.host.address}", "--answers", str(path), "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stderr.startswith("vps-wizard: "), result.stderr
    assert "\n  → " in result.stderr, result.stderr
    assert "==" not in result.stdout, result.stdout  # no step was planned, let alone applied
    return result.stderr


@pytest.fixture
def wizard(fresh_testhost, wizard_factory) -> Wizard:
    """A laptop that trusts a fresh host."""
    laptop = wizard_factory(fresh_testhost)
    laptop.trust_host()
    return laptop


def test_a_bad_port_after_base_and_admin_user_changes_nothing(wizard, tmp_path):
    before = untouched(wizard)
    error = apply_refused(wizard, tmp_path, FIRST_STEPS + "[ssh-hardening]\nport = 70000\n")
    assert "ssh-hardening.port: 70000: a port is between 1 and 65535" in error
    assert "correct [ssh-hardening] port in" in error
    assert untouched(wizard) == before
    assert before[1].strip() == "none" and before[2].strip() == "none"


def test_a_refusal_that_needs_the_server_comes_before_the_first_step(wizard, tmp_path):
    """Blocking the address the wizard connects from is known only once connected."""
    before = untouched(wizard)
    answers = FIRST_STEPS + "[ssh-hardening]\n[firewall]\nblocked = '10.254.0.0/16'\n"
    error = apply_refused(wizard, tmp_path, answers)
    assert "nothing was changed: firewall.blocked: 10.254.0.0/16 contains" in error
    assert "the address you are connected from" in error
    assert untouched(wizard) == before
