"""Installed as a package into a fresh virtual environment, the command finds its steps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_pip_install_into_a_fresh_venv_ships_steps_templates_and_styles(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Built from a copy, so no build artefact lands in the checkout.
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    for item in REPO.iterdir():
        if item.name in (".venv", ".git", ".pytest_cache", ".ruff_cache"):
            continue
        subprocess.run(["cp", "-r", str(item), str(source)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(source)],
        check=True,
        capture_output=True,
    )
    steps = subprocess.run(
        [str(venv / "bin" / "vps-wizard"), "steps"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    for step in ("base", "admin-user", "ssh-hardening", "firewall", "fail2ban"):
        assert step in steps.stdout
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.resources as r, screens, pathlib;"
            "t = pathlib.Path(str(r.files('vps_wizard_templates')));"
            "print(t); print(sorted(p.name for p in t.glob('*/step.toml')));"
            "print(sorted(p.name for p in pathlib.Path(screens.__file__).parent.glob('*.tcss')))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    location, tomls, styles = where.stdout.splitlines()
    assert str(venv) in location
    assert tomls.count("step.toml") >= 5
    assert "tcss" in styles
