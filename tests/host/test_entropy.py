"""The entropy step on a real Debian 12 host, applied through the CLI.

The test host runs a recent kernel (5.6 or later): the step proposes no haveged, installs
nothing and says why, and its checks show random bytes coming without waiting and a full pool.
Each check is then shown failing on a host broken by hand, inside the container only: a FIFO
with no writer bound over /dev/random (a read that would wait: EAGAIN without blocking) and a
starved entropy_avail bound over the kernel's. haveged, when answered yes, is installed, runs
and is checked; a second plan has nothing to change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.host.harness import Wizard, assert_fails

pytestmark = pytest.mark.host
STEP = "entropy"
BASE = '[base]\nfqdn = "test.example.net"\ntimezone = "UTC"\nupgrade = false\n\n'
ENTROPY_AVAIL = "/proc/sys/kernel/random/entropy_avail"


def cli(wizard: Wizard, answers: Path, command: str, *steps: str):
    args = [command, f"root@{wizard.host.address}", "--answers", str(answers)]
    for step in steps:
        args += ["--step", step]
    return wizard.cli(*args, *(["--yes"] if command == "apply" else []))


def results(wizard: Wizard) -> list[dict[str, Any]]:
    """The step's check results in their order: random bytes, the pool, haveged."""
    out = wizard.cli("verify", wizard.host.address, "--json", "--step", STEP)
    assert out.stdout, out.stderr
    found = json.loads(out.stdout)["steps"][STEP]
    assert [r["check"] for r in found] == ["command"] * 3, found
    return found


@pytest.fixture
def wizard(fresh_testhost, wizard_factory) -> Wizard:
    laptop = wizard_factory(fresh_testhost)
    laptop.trust_host()
    return laptop


def test_no_haveged_on_a_new_kernel_checks_fail_when_starved_and_haveged_on_request(
    wizard, tmp_path
):
    host = wizard.host
    answers = tmp_path / "answers.toml"
    answers.write_text(BASE + "[entropy]\n")
    kernel = host.exec("uname -r").stdout.strip()

    first = cli(wizard, answers, "apply", "base", STEP)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (
        "haveged" not in host.exec("dpkg-query -W -f='${Package}\\n' 'have*'", check=False).stdout
    )
    random, pool, haveged = results(wizard)
    assert random["status"] == "ok", random
    assert "getrandom does not block" in random["summary"]
    assert pool["status"] == "ok", pool
    assert "entropy_avail 256 of poolsize 256" in pool["evidence"]
    assert haveged["status"] == "ok", haveged
    assert haveged["summary"] == (
        f"no haveged needed: kernel {kernel} (5.6 or later) seeds its random pool itself"
    )
    plan = cli(wizard, answers, "plan", STEP)
    assert plan.returncode == 0 and f"{STEP}: nothing to change" in plan.stdout, plan.stdout

    # Broken by hand inside the container: a read of /dev/random that would wait.
    host.exec("mkfifo /run/starved && mount --bind /run/starved /dev/random")
    random = results(wizard)[0]
    assert_fails(random, "random bytes come without waiting", "does not match ^16$")
    assert "dd if=/dev/random" in random["hint"]
    host.exec("umount /dev/random")
    # A pool that reports 12 bits.
    host.exec(f"echo 12 > /run/avail && mount --bind /run/avail {ENTROPY_AVAIL}")
    pool = results(wizard)[1]
    assert_fails(pool, "the entropy pool reports full", "entropy_avail 12 of poolsize 256")
    host.exec(f"umount {ENTROPY_AVAIL}")
    assert [r["status"] for r in results(wizard)] == ["ok"] * 3

    # haveged asked for: installed, running, checked; then nothing more to do.
    answers.write_text(BASE + "[entropy]\nhaveged = true\n")
    second = cli(wizard, answers, "apply", STEP)
    assert second.returncode == 0, second.stdout + second.stderr
    assert host.exec("systemctl is-active haveged").stdout.strip() == "active"
    haveged = results(wizard)[2]
    assert haveged["status"] == "ok", haveged
    assert haveged["summary"] == "haveged runs and feeds the pool"
    host.exec("systemctl stop haveged")
    assert_fails(results(wizard)[2], "haveged runs", "exited 3, expected 0")
    again = cli(wizard, answers, "apply", STEP)
    assert again.returncode == 0, again.stdout + again.stderr
    plan = cli(wizard, answers, "plan", STEP)
    assert plan.returncode == 0 and f"{STEP}: nothing to change" in plan.stdout, plan.stdout
