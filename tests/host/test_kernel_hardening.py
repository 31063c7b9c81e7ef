"""The kernel-hardening step on a real Debian 12 host, applied through the CLI.

The test host is a systemd-nspawn container: its /proc/sys is the host kernel's, mounted
read-only, as on many container VPSes. The test opens one per-network-namespace subtree,
net.ipv4.conf (the container's own interfaces: nothing outside the container changes), so both
cases are shown: keys the step sets and reads back, and kernel.* keys the container cannot set,
reported as "set by the host, not settable here" without failing the step. A settable key put
back by hand fails the check until the step is applied again; a second plan has nothing to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.host.harness import Wizard, assert_fails, checks

pytestmark = pytest.mark.host
STEP = "kernel-hardening"
DROP_IN = "/etc/sysctl.d/99-vps-wizard-kernel.conf"
MARTIANS = "/proc/sys/net/ipv4/conf/all/log_martians"
ANSWERS = """\
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false

[kernel-hardening]
bbr = true
tcp_buffers = "kernel"
"""
# The container's own net.ipv4.conf (per network namespace) made writable, the rest of
# /proc/sys left read-only: the step can set these keys and no other.
OPEN_IPV4_CONF = (
    "mount --bind /proc/sys/net/ipv4/conf /proc/sys/net/ipv4/conf && "
    "mount -o remount,bind,rw /proc/sys/net/ipv4/conf"
)


def cli(wizard: Wizard, answers: Path, command: str, *steps: str):
    args = [command, f"root@{wizard.host.address}", "--answers", str(answers)]
    for step in steps:
        args += ["--step", step]
    return wizard.cli(*args, *(["--yes"] if command == "apply" else []))


@pytest.fixture
def wizard(fresh_testhost, wizard_factory) -> Wizard:
    laptop = wizard_factory(fresh_testhost)
    laptop.trust_host()
    return laptop


def test_set_and_read_back_held_by_the_host_put_back_by_hand_and_repaired(wizard, tmp_path):
    host = wizard.host
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS)
    host.exec(OPEN_IPV4_CONF)
    assert host.exec(f"cat {MARTIANS}").stdout.strip() == "0"

    first = cli(wizard, answers, "apply", "base", STEP)
    assert first.returncode == 0, first.stdout + first.stderr
    text = host.exec(f"cat {DROP_IN}").stdout
    assert "net.ipv4.conf.all.log_martians = 1\n" in text
    assert "kernel.kptr_restrict = 2\n" in text
    assert "net.ipv4.tcp_congestion_control = bbr\n" in text
    assert "net.core.rmem_max" not in text  # the kernel's own buffers, as answered

    # Set by sysctl --system and read back: the container's own keys.
    assert host.exec(f"cat {MARTIANS}").stdout.strip() == "1"
    assert host.exec("cat /proc/sys/net/ipv4/conf/all/accept_source_route").stdout.strip() == "0"
    # Held by the host: the container cannot set kernel.kptr_restrict, the step says so.
    assert host.exec("cat /proc/sys/kernel/kptr_restrict").stdout.strip() != "2"
    result = checks(wizard, STEP)["kernel.sysctl"]
    assert result["status"] == "warn", result
    assert "set by the host, not settable here" in result["summary"]
    assert "kernel.kptr_restrict" in result["summary"]
    assert "/proc/sys is mounted read-only" in result["summary"]
    assert "net.ipv4.conf.all.log_martians = 1 now, 1 in the drop-in" in result["evidence"]
    assert "net.ipv4.conf.all.log_martians" not in result["summary"]

    # A settable key put back by hand fails the check, with what to do.
    host.exec("sysctl -q -w net.ipv4.conf.all.log_martians=0")
    broken = checks(wizard, STEP)["kernel.sysctl"]
    assert_fails(broken, "net.ipv4.conf.all.log_martians is 0, not 1", "sysctl -w")
    assert "apply the kernel-hardening step again" in broken["hint"]
    plan = cli(wizard, answers, "plan", STEP)
    assert plan.returncode == 2, plan.stdout + plan.stderr

    # Applied again: repaired; then the plan has nothing to change.
    again = cli(wizard, answers, "apply", STEP)
    assert again.returncode == 0, again.stdout + again.stderr
    assert host.exec(f"cat {MARTIANS}").stdout.strip() == "1"
    assert checks(wizard, STEP)["kernel.sysctl"]["status"] == "warn"
    second = cli(wizard, answers, "plan", STEP)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{STEP}: nothing to change" in second.stdout, second.stdout

    # A later drop-in that sets a key again would win at boot: named, and a failure.
    host.exec("echo 'net.ipv4.conf.all.log_martians = 0' > /etc/sysctl.d/zz-local.conf")
    overridden = checks(wizard, STEP)["kernel.sysctl"]
    assert_fails(overridden, "net.ipv4.conf.all.log_martians is set to 0 by", "zz-local.conf")
