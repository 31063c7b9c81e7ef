"""Command line for the test host (needs root).

python -m wizard.testhost build [--all]      build (or reuse) the cached Debian 12 image
                                             (--all: Debian 13 and Ubuntu 24.04 too)
python -m wizard.testhost up [--name N] [--distro debian12|debian13|ubuntu2404]
                                             boot a machine, print how to reach it, and keep
                                             it until Ctrl-C or SIGTERM
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys

from wizard.testhost.image import DEBIAN12, DISTROS, Distro
from wizard.testhost.machine import boot, ensure_image, write_known_hosts


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m wizard.testhost")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the test host image once (cached)")
    build.add_argument("--all", action="store_true", help="every release, not only Debian 12")
    up = commands.add_parser("up", help="boot a pristine test host until Ctrl-C")
    up.add_argument("--name", default="vw1", help="machine name (default: vw1)")
    up.add_argument("--subnet", type=int, default=1, help="N in 10.254.N.0/30 (default: 1)")
    up.add_argument("--distro", choices=sorted(DISTROS), default="debian12")
    args = parser.parse_args(argv)
    if args.command == "build":
        for distro in DISTROS.values() if args.all else [DEBIAN12]:
            print(ensure_image(distro))
        return 0
    return run_up(args.name, args.subnet, DISTROS[args.distro])


def run_up(name: str, subnet_index: int, distro: Distro) -> int:
    """Boot, print the connection details, wait for Ctrl-C or SIGTERM, then stop."""
    host = boot(name, subnet_index, distro)
    try:
        known_hosts = write_known_hosts(host, host.workdir / "known_hosts")
        print(f"{distro.title} test host {host.name} is up at {host.address}:{host.port}")
        print(f"  root key:     {host.root_key_path}")
        print(f"  known_hosts:  {known_hosts}")
        print(f"  root password {host.root_password} (sshd allows keys only, as on Debian)")
        print(f"  ssh:          {shlex.join(host.ssh_command(known_hosts))}")
        print(f"  shell:        nsenter --target={host.init_pid} --all --root --wd /bin/bash -l")
        print("Ctrl-C or SIGTERM stops it.", flush=True)
        wait_for_stop_signal()
    finally:
        host.stop()
    return 0


def wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM arrives; they stay blocked so stop() runs undisturbed.

    Blocked only now, after boot: children inherit the signal mask, and a tinyproxy started
    with SIGTERM blocked would ignore stop().
    """
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    signal.sigwait(signals)


if __name__ == "__main__":
    sys.exit(main())
