"""What a headless command loads before its login begins: only the command line and the
connector. The step catalog, the state store, the session and everything behind it (Jinja, the
planner, platformdirs) load while the handshake's round trips are under way
(wizard.remote.connect_early), where their cost is hidden; each of them imported first again
would add its time to every plan and apply (issue 13). What the command runs once connected
(the workflow, the check areas of apply's steps) loads before the session asks for its login:
this thread waits for the handshake then."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[2]

# Loaded only once the login is under way.
AFTER_LOGIN_BEGINS = [
    "wizard.catalog",
    "wizard.stepschema",
    "wizard.answers",
    "wizard.state",
    "sqlite3",
    "wizard.session",
    "wizard.facts",
    "wizard.plan",
    "wizard.apply",
    "wizard.render",
    "jinja2",
    "wizard.checks",
    "platformdirs",
    "tomllib",
]

# Runs the command line with connect_early recording the modules loaded when it is called.
PROBE = """
import json, sys
import wizard.remote

def record(*_args):
    print(json.dumps(sorted(sys.modules)))
    raise SystemExit(0)

wizard.remote.connect_early = record
from wizard.cli import main

main(sys.argv[1:])
"""


# Runs the command line with Remote.connect recording the modules loaded when the session
# asks for its login (the one begun early, stubbed away too).
CONNECT_PROBE = """
import json, sys
import wizard.remote

def record(*_args):
    print(json.dumps(sorted(sys.modules)))
    raise SystemExit(0)

wizard.remote.connect_early = lambda *_args: None
wizard.remote.Remote.connect = record
from wizard.cli import main

main(sys.argv[1:])
"""


def modules_when_login_begins(tmp_path: Path, command: str, probe: str = PROBE) -> list[str]:
    key = tmp_path / "id_ed25519"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    argv = [*command.split(), "root@192.0.2.7:2222", "-i", str(key)]
    argv += ["--known-hosts", str(tmp_path / "known_hosts"), "--state", str(tmp_path / "s.db")]
    result = subprocess.run(
        [sys.executable, "-c", probe, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_plan_begins_its_login_before_the_catalog_and_the_engine_load(tmp_path: Path) -> None:
    loaded = modules_when_login_begins(tmp_path, "plan")
    assert "wizard.cli" in loaded
    assert [m for m in AFTER_LOGIN_BEGINS if m in loaded] == []


def test_apply_begins_its_login_before_the_catalog_and_the_engine_load(tmp_path: Path) -> None:
    loaded = modules_when_login_begins(tmp_path, "apply")
    assert [m for m in AFTER_LOGIN_BEGINS if m in loaded] == []


def test_apply_loads_the_checks_of_its_steps_while_its_login_is_under_way(tmp_path: Path) -> None:
    # Loaded when the session asks for the login, not after the apply, when they run.
    loaded = modules_when_login_begins(tmp_path, "apply --step fail2ban", CONNECT_PROBE)
    assert "wizard.workflow" in loaded
    assert "wizard.checks.fail2ban" in loaded
    assert "wizard.checks.firewall" not in loaded  # another step's


def test_plan_loads_no_check_while_its_login_is_under_way(tmp_path: Path) -> None:
    loaded = modules_when_login_begins(tmp_path, "plan --step fail2ban", CONNECT_PROBE)
    assert "wizard.preview" in loaded
    assert [m for m in loaded if m.startswith("wizard.checks.fail2ban")] == []
    assert "wizard.workflow" not in loaded
