"""The ipv6 step on a real Debian 12 host whose link carries a global IPv6 prefix.

The test host is booted as a provider's machine (wizard.testhost.machine, provider_ipv6): a ULA
/64 on its link, the router at ::1 on the host side (where this test runs), and eth0 managed by
systemd-networkd from /etc/systemd/network/10-eth0.network. The step finds networkd and that
file from the facts, writes its drop-in, and the checks prove from here that the address
answers as the IPv4 one does. One host for the file: the day-one steps, then the step by
keyboard in the TUI, then the CLI: a second apply has nothing to do, each check fails on a host
broken by hand and a re-apply repairs, and the dns-zone step's plan carries the AAAA record;
once the zone is applied, a new address in the ipv6 step's plan takes the zone's AAAA with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.host.fixtures import FRESH_SLOTS, boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails
from tests.host.pilot import make_app, overview_ready, run_step, select_step, wait_until

pytestmark = pytest.mark.host
STEP = "ipv6"
NETWORK_FILE = "/etc/systemd/network/10-eth0.network"
DROP_IN = f"{NETWORK_FILE}.d/60-vps-wizard-ipv6.conf"
FIRST_STEPS = ("base", "admin-user", "ssh-hardening", "firewall")
BASE = """\
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false

[admin-user]
username = "admin"

[ssh-hardening]
[firewall]
"""


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wizard]:
    """A provider-like host with the steps the ipv6 step requires applied, and its laptop."""
    host = boot_free("vw6", FRESH_SLOTS, provider_ipv6=True)
    try:
        wizard = Wizard(host, tmp_path_factory.mktemp("ipv6-laptop"))
        wizard.trust_host()
        answers = wizard.home / "base.toml"
        answers.write_text(BASE)
        apply_ok(wizard, f"root@{host.address}", FIRST_STEPS, answers)
        yield wizard
    finally:
        host.stop()


def answers_file(wizard: Wizard) -> Path:
    """The provider's values; the manager and the interface left to their defaults (facts)."""
    host = wizard.host
    path = wizard.home / "answers.toml"
    path.write_text(
        BASE
        + f'\n[ipv6]\naddress = "{host.ipv6_address}"\nprefix_length = {host.ipv6_prefix_length}\n'
        + f'gateway = "{host.ipv6_gateway}"\n\n[dns-zone]\ndomain = "example.net"\n'
    )
    return path


def cli(wizard: Wizard, command: str, step: str = STEP):
    # No user: the laptop logs in as the admin it recorded (root's login is closed by now).
    args = [command, wizard.host.address, "--answers", str(answers_file(wizard))]
    return wizard.cli(*args, "--step", step, *(["--yes"] if command == "apply" else []))


def results(wizard: Wizard) -> list[dict[str, Any]]:
    """The step's check results in order: address, route, at boot, from outside."""
    out = wizard.cli("verify", wizard.host.address, "--json", "--step", STEP)
    assert out.stdout, out.stderr
    found = json.loads(out.stdout)["steps"][STEP]
    assert [r["check"] for r in found] == ["command"] * 3 + ["ipv6.services"], found
    return found


def assert_all_ok(wizard: Wizard) -> list[dict[str, Any]]:
    found = results(wizard)
    assert all(r["status"] == "ok" for r in found), found
    return found


async def test_by_keyboard_the_address_from_the_provider_values_answers_like_ipv4(laptop):
    host = laptop.host
    assert host.exec("ip -6 -o addr show dev eth0 scope global").stdout == ""
    app = make_app(laptop, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 30)
        await select_step(pilot, app, STEP)
        # The manager, the interface and the prefix length are the facts' defaults.
        await run_step(
            pilot, app, STEP, {"address": host.ipv6_address, "gateway": host.ipv6_gateway}
        )
        status = app.screen.statuses[STEP].record.status
        await pilot.press("q")
    assert status == "verified"
    text = host.exec(f"cat {DROP_IN}").stdout
    assert f"Address={host.ipv6_address}/64\n" in text, text
    assert f"Gateway={host.ipv6_gateway}\n" in text, text
    live = host.exec("ip -6 route show default").stdout
    assert f"default via {host.ipv6_gateway} dev eth0" in live, live
    # The IPv4 address the session rides on is still there, held by networkd's own file.
    assert f"inet {host.address}/30" in host.exec("ip -4 -o addr show dev eth0").stdout


def test_second_apply_is_a_no_op_and_the_checks_prove_it_from_outside(laptop):
    host = laptop.host
    again = cli(laptop, "apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{STEP}: nothing to change" in again.stdout, again.stdout
    address, _route, boot, outside = assert_all_ok(laptop)
    assert "duplicate detection passed" in address["summary"]
    assert "systemd-networkd sets" in boot["summary"], boot
    assert "60-vps-wizard-ipv6.conf" in boot["evidence"], boot
    assert "22/tcp open on both" in outside["summary"], outside
    assert f"IPv6 {host.ipv6_address}: " in outside["evidence"], outside
    assert "31337/tcp filtered" in outside["evidence"], outside


def test_the_zone_takes_the_address_as_its_aaaa_records(laptop):
    plan = cli(laptop, "plan", "dns-zone")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    aaaa = [line for line in plan.stdout.splitlines() if "AAAA" in line]
    assert aaaa and all(laptop.host.ipv6_address in line for line in aaaa), plan.stdout


def test_each_check_fails_on_a_host_broken_by_hand_and_an_apply_repairs(laptop):
    host = laptop.host
    cidr = f"{host.ipv6_address}/{host.ipv6_prefix_length}"

    # The address removed by hand: gone now, and from outside IPv6 no longer answers.
    host.exec(f"ip -6 addr del {cidr} dev eth0")
    address, route, boot, outside = results(laptop)
    assert_fails(address, "not so", cidr, "ip -6 -o addr show dev eth0")
    assert boot["status"] == "ok", boot  # networkd still holds it for the next boot
    assert outside["status"] == "fail", outside
    assert "22/tcp is open on IPv4 but" in outside["summary"], outside
    # networkd's file no longer naming the IPv4 address: applying would remove it with the
    # session; the apply stops before, saying what to do, and the address stays.
    host.exec(f"cp {NETWORK_FILE} /root/eth0.network && sed -i /^Address=10/d {NETWORK_FILE}")
    refused = cli(laptop, "apply")
    assert refused.returncode != 0, refused.stdout
    assert f"does not name its IPv4 address {host.address}/30" in refused.stdout + refused.stderr
    assert f"inet {host.address}/30" in host.exec("ip -4 -o addr show dev eth0").stdout
    host.exec(f"mv /root/eth0.network {NETWORK_FILE}")
    repaired = cli(laptop, "apply")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert_all_ok(laptop)

    # The default route deleted and the drop-in moved away: the route is gone now, and the
    # address (still live, its check ok) would be gone at the next boot.
    host.exec(f"ip -6 route del default && mv {DROP_IN} /root/dropin.conf")
    address, route, boot, outside = results(laptop)
    assert_fails(route, "not so", f"via {host.ipv6_gateway}", "ip -6 route show default")
    assert_fails(boot, "not so", "again at boot", "10-eth0.network")
    assert address["status"] == outside["status"] == "ok", (address, outside)
    host.exec(
        f"mv /root/dropin.conf {DROP_IN} && "
        f"ip -6 route add default via {host.ipv6_gateway} dev eth0 onlink"
    )

    # A port open on IPv4 only: a listener on 0.0.0.0 and a firewall rule for IPv4 alone.
    host.exec(
        "systemd-run --unit=v4only systemd-socket-activate -a -l 0.0.0.0:8080 /bin/cat && "
        f"nft insert rule inet vpswizard input ip daddr {host.address} tcp dport 8080 accept"
    )
    outside = results(laptop)[3]
    assert_fails(outside, "8080/tcp is open on IPv4 but filtered on IPv6", "ip6 saddr/daddr")
    assert "on IPv4 (0.0.0.0)" in outside["summary"], outside
    host.exec("systemctl stop v4only && systemctl reload nftables")
    assert_all_ok(laptop)


def test_a_new_address_takes_the_applied_zones_aaaa_with_it(laptop):
    host = laptop.host
    applied = cli(laptop, "apply", "dns-zone")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # The provider gives another address of the prefix: the plan of the ipv6 step alone shows
    # the zone, whose AAAA followed the old one, as a follow-up with the new one.
    new_address = host.ipv6_address.rsplit(":", 1)[0] + ":beef"
    moved = laptop.home / "moved.toml"
    moved.write_text(answers_file(laptop).read_text().replace(host.ipv6_address, new_address))
    plan = laptop.cli("plan", host.address, "--answers", str(moved), "--step", STEP, "--json")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    planned = {item["step"]: item for item in json.loads(plan.stdout)}
    zone = planned["dns-zone"]
    assert zone["reason"] == "ipv6 changed what dns-zone's ipv6 follows", zone
    diff = "\n".join(f["diff"] for f in zone["files"])
    added = [line for line in diff.splitlines() if line.startswith("+") and "AAAA" in line]
    removed = [line for line in diff.splitlines() if line.startswith("-") and "AAAA" in line]
    assert added and all(new_address in line for line in added), diff
    assert removed and all(host.ipv6_address in line for line in removed), diff
