"""The facts in one round trip: the wizard's traces come with them, and the script's slow parts
run at the same time, their output in the same order as before."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.unit.recordings import recorded_facts, session
from wizard.facts import facts_script, parse_facts

# Each shim takes this long: run one after another, the script could not end sooner than the
# sum of them.
SLOW_S = 0.6
SHIMS = {
    "apt-cache": f'sleep {SLOW_S}; [ "$1" = pkgnames ] && printf "php8.2-fpm\\nphp8.2-cli\\n"',
    "ssh": f'[ "$1" = -V ] && sleep {SLOW_S} && echo "OpenSSH_9.2p1 Debian-2+deb12u3" >&2',
    "networkctl": f"sleep {SLOW_S}",
}


def test_connecting_with_a_record_reads_the_servers_traces_with_the_facts(
    tmp_path: Path,
) -> None:
    # The server's copy claims four steps verified: the session checks the server backs them
    # from the traces the facts script read, without a command of its own.
    opened = session("debian12-day-one", tmp_path)
    assert opened.stats.as_dict().keys() == {"facts"}
    assert opened.stats.phases["facts"].round_trips == 1
    assert opened.traces == recorded_facts("debian12-day-one").traces
    assert opened.traces is not None and opened.traces.server_copy and opened.traces.runs
    assert "/etc/ssh/sshd_config.d/00-vps-wizard.conf" in opened.traces.manifest
    assert opened.reset is None
    assert opened.host.step("ssh-hardening").status == "verified"


def test_after_recovering_a_run_the_traces_are_read_again(tmp_path: Path) -> None:
    # Undoing the run put its manifest back: what the facts read before is out of date.
    opened = session("debian12-interrupted", tmp_path)
    assert opened.stats.phases["resume"].round_trips == 2  # the recovery, then the traces


def test_an_output_without_the_traces_and_late_parts_still_parses() -> None:
    # As a server answered before the traces and the late key=value lines were added.
    facts = parse_facts(
        "kernel=6.1\nphp_versions=8.2\n@@OS-RELEASE\nID=debian\n@@STATE\n\n@@DRIFT\n"
        "/etc/x\n@@SSHD\nversion OpenSSH_9.2p1\n"
    )
    assert (facts.kernel, facts.php_versions, facts.drifted_files) == ("6.1", ("8.2",), ("/etc/x",))
    assert facts.sshd["version"] == "OpenSSH_9.2p1"
    assert not facts.traces.any


def test_the_slow_parts_run_at_once_and_print_in_their_place(tmp_path: Path) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    for name, body in SHIMS.items():
        (shims / name).write_text(f"#!/bin/sh\n{body}\n")
        (shims / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}
    started = time.monotonic()
    result = subprocess.run(
        ["sh", "-c", facts_script(["sudo"]), "sh", "10.0.0.1 50000 10.0.0.2 22"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    took = time.monotonic() - started
    # One after another they take 3 x SLOW_S; at once, one of them and the rest of the script.
    assert took < 2 * SLOW_S, f"the script took {took:.2f} s: its slow parts ran one by one"
    facts = parse_facts(result.stdout)
    assert facts.php_versions == ("8.2",)
    assert facts.sshd["version"] == "OpenSSH_9.2p1 Debian-2+deb12u3"
    assert (facts.client_address, facts.ssh_port) == ("10.0.0.1", 22)
    # Each part in its section, in the order the parser reads them.
    markers = [line for line in result.stdout.splitlines() if line.startswith("@@")]
    assert [m for m in markers if m not in ("@@COPY", "@@RUNS")] == [
        "@@OS-RELEASE",
        "@@STATE",
        "@@DRIFT",
        "@@TRACES",
        "@@MANIFEST",
        "@@SSHD",
        "@@LATE",
    ]
