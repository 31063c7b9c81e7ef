"""The `vps-wizard` command: the engine's command line (wizard.cli) with the Textual front end
(screens) plugged in. The one module that knows both: the engine never imports the TUI, and the
screens never import the connector; tests/unit/test_import_rules.py holds both rules."""

from __future__ import annotations

import atexit
import gc
import sys
from typing import TYPE_CHECKING

from wizard.cli import main as cli_main

# At exit the interpreter collects every object the run made (0.03 s for the engine, Paramiko
# and Jinja) only to free memory that the process gives back anyway; frozen, they are left to
# it. Registered before the command runs, so it runs after the exit handlers of what the
# command loads (the last registered runs first).
atexit.register(gc.freeze)

if TYPE_CHECKING:
    from wizard.catalog import Catalog
    from wizard.endpoint import ConnectOptions
    from wizard.state import StateStore


def launch_tui(
    catalog: Catalog | None, store: StateStore, options: ConnectOptions | None
) -> object:
    """Open the TUI; Textual is imported only here, so headless commands start without it."""
    from screens.app import run_tui

    # The modules and classes loaded so far live as long as the process: frozen, the collector
    # stops scanning them, and the first screen no longer waits on a full collection (0.03 s
    # of its 0.45 s of CPU; every later full collection of the session is smaller too).
    gc.freeze()
    return run_tui(catalog, store, options)


def main(argv: list[str] | None = None) -> int:
    """Run vps-wizard: a command, the TUI on a server, or the demo."""
    return cli_main(argv, launch_tui)


if __name__ == "__main__":
    sys.exit(main())
