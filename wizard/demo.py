"""The demo: boot the disposable Debian 12 test host and open the TUI on it."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

import platformdirs

from wizard.catalog import Catalog
from wizard.endpoint import Credentials, Target
from wizard.errors import WizardError
from wizard.session import ConnectOptions
from wizard.state import StateStore

if TYPE_CHECKING:
    from wizard.cli import TuiLauncher


def run_demo(catalog: Catalog, args: argparse.Namespace, launch_tui: TuiLauncher) -> int:
    """Boot a pristine test host, run the TUI against it as root, stop it afterwards."""
    if os.geteuid() != 0:
        raise WizardError(
            "the demo boots a local test machine with systemd-nspawn, which needs root",
            "run it as root (sudo vps-wizard --demo), or give a server: vps-wizard root@host",
        )
    from wizard.testhost.machine import boot

    folder = platformdirs.user_state_path("vps-wizard") / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    print("Booting the demo server (a throw-away Debian 12 machine; the first time builds it)…")
    host = boot("demo", 2)
    try:
        # Every boot is pristine, so the demo starts with a fresh record too. The host key
        # stays unknown on purpose: the TUI shows it and asks, as with a real server.
        state = folder / "state.db"
        state.unlink(missing_ok=True)
        (folder / "known_hosts").unlink(missing_ok=True)
        options = ConnectOptions(
            target=Target(host.address, "root"),
            credentials=Credentials(str(host.root_key_path)),
            known_hosts=folder / "known_hosts",
            guard_seconds=args.guard_seconds,
        )
        launch_tui(catalog, StateStore(state), options)
    finally:
        host.stop()
    return 0
