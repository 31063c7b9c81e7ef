"""What a headless command loads before its login begins: only the command line and the
connector. The step catalog, the state store, the session and everything behind it (Jinja, the
planner, platformdirs) load while the handshake's round trips are under way
(wizard.remote.connect_early), where their cost is hidden; each of them imported first again
would add its time to every plan and apply (issue 13)."""

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


def modules_when_login_begins(tmp_path: Path, command: str) -> list[str]:
    key = tmp_path / "id_ed25519"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    argv = [command, "root@192.0.2.7:2222", "-i", str(key)]
    argv += ["--known-hosts", str(tmp_path / "known_hosts"), "--state", str(tmp_path / "s.db")]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
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
