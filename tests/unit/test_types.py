"""The type checker passes on the engine and the screens: among what it holds, Remote.run gets
Shell only (wizard/shell.py), so no f-string or concatenated str reaches the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_mypy_passes():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "wizard", "screens", "vps_wizard.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_refuses_a_str_where_shell_is_expected(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from wizard.remote import Remote\n"
        "def f(remote: Remote, name: str) -> None:\n"
        "    remote.run(f'cat {name}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", str(probe)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={"MYPYPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert 'incompatible type "str"; expected "Shell"' in result.stdout
