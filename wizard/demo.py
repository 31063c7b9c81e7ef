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

# Said before the machine boots and again on the overview, the demo's first screen of steps.
FRESH_EACH_TIME = (
    "The demo starts from a fresh machine each time: nothing done in it is kept when you "
    "quit, and the next demo does not resume it."
)


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
    print(FRESH_EACH_TIME)
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
            notices=(FRESH_EACH_TIME,),
        )
        launch_tui(catalog, StateStore(state), options)
    finally:
        host.stop()
    return 0
