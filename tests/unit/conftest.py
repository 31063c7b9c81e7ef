"""Fixtures shared by the engine's unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def stand_in_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sudo that runs the rest of its command line (there is no sudo here): first on PATH
    for the local shells that stand in for the server's channels."""
    (tmp_path / "sudo").write_text('#!/bin/sh\n[ "$1" = -n ] && shift; shift; exec "$@"\n')
    (tmp_path / "sudo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
