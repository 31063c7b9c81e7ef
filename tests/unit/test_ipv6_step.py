"""The ipv6 step without a server: the network facts (which manager configures the interface,
from the facts script's own lines run against stand-in commands), the file each manager gets,
the outside check's verdicts, and the dns-zone step's AAAA proposed from the ipv6 answer."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

from wizard.answers import AnswerError, check_refusals
from wizard.catalog import load_catalog
from wizard.checks.base import CheckStatus
from wizard.checks.ipv6 import Listener, PortSeen, judge_services, parse_listeners
from wizard.facts import Facts
from wizard.netfacts import NETWORK_SCRIPT, Network, parse_network
from wizard.plan import render_step
from wizard.state import HostRecord, StepRecord
from wizard.stepcontext import default_answers, template_context

CATALOG = load_catalog()
STEP = CATALOG.get("ipv6")
FACTS = Facts(
    "debian", "12", "Debian GNU/Linux 12", "debian", "6.1.0", "vps", "vps.example.org",
    "Etc/UTC", ("192.0.2.10",), (), "198.51.100.7", 22, "root", frozenset(),
)  # fmt: skip
NETWORKD = Network("eth0", "systemd-networkd", "/etc/systemd/network/10-eth0.network")
FACTS_NETWORKD = dataclasses.replace(FACTS, network=NETWORKD).as_template_context()
ANSWERS = {
    "manager": "systemd-networkd",
    "interface": "eth0",
    "address": "2001:db8:1234::2",
    "prefix_length": 64,
    "gateway": "fe80::1",
}


def run_network_script(tmp_path: Path, route: str, status: str, ifstate: bool = False) -> str:
    """The facts script's network lines, with `ip` and `networkctl` standing in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *'route get'*) echo '{route}' ;;\n"
        "  *'addr show'*) echo '2: eth0    inet6 2001:db8:1234::2/64 scope global \\' ;;\n"
        "  *'route show default'*) echo 'default via fe80::1 dev eth0 proto static' ;;\n"
        "esac\n"
    )
    (bin_dir / "networkctl").write_text(f"#!/bin/sh\nprintf '%s\\n' '{status}'\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = str(NETWORK_SCRIPT)
    if ifstate:
        state = tmp_path / "ifstate.eth0"
        state.touch()
        script = script.replace("/run/network/ifstate.", f"{tmp_path}/ifstate.")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    args = ["sh", "-c", script, "sh", "198.51.100.7 5 192.0.2.10 22"]
    return subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout


def values(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines())


def test_the_facts_find_networkd_its_file_and_the_interface_s_ipv6(tmp_path: Path) -> None:
    output = run_network_script(
        tmp_path,
        "198.51.100.7 via 192.0.2.1 dev eth0 src 192.0.2.10 uid 0",
        "          Network File: /etc/systemd/network/10-eth0.network",
    )
    assert parse_network(values(output)) == Network(
        "eth0",
        "systemd-networkd",
        "/etc/systemd/network/10-eth0.network",
        ("2001:db8:1234::2/64",),
        "fe80::1",
    )


def test_netplan_is_told_by_the_file_it_generated_and_ifupdown_by_its_state(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    netplan = values(
        run_network_script(
            tmp_path / "a",
            "198.51.100.7 via 192.0.2.1 dev ens3 src 192.0.2.10",
            "   Network File: /run/systemd/network/10-netplan-ens3.network",
        )
    )
    assert parse_network(netplan).manager == "netplan"
    assert parse_network(netplan).interface == "ens3"
    (tmp_path / "b").mkdir()
    ifupdown = values(run_network_script(tmp_path / "b", "x dev eth0 src y", "", ifstate=True))
    assert parse_network(ifupdown).manager == "ifupdown"
    assert parse_network(ifupdown).network_file == ""


@pytest.mark.parametrize(
    "changes",
    [
        {"net_iface": "eth0;reboot"},
        {"net_iface": "a-name-far-too-long"},
        {"net_network_file": "/etc/systemd/network/../../passwd.network"},
        {"net_network_file": "/tmp/x.network"},
    ],
)
def test_a_name_that_is_no_interface_or_network_file_is_left_out(changes) -> None:
    given = {"net_iface": "eth0", "net_network_file": "/etc/systemd/network/10-eth0.network"}
    network = parse_network({**given, **changes})
    assert network.network_file == "" or network.interface == ""
    assert "passwd" not in network.network_name and ";" not in network.interface


def render(answers: dict[str, object], network: Network = NETWORKD) -> dict[str, str]:
    facts = dataclasses.replace(FACTS, network=network)
    context = {"answers": answers, "facts": facts.as_template_context(), "steps": {}}
    return {f.dest: f.content.decode() for f in render_step(STEP, context).files}


def test_networkd_gets_a_drop_in_of_the_file_that_matches_the_interface() -> None:
    files = render(ANSWERS)
    dest = "/etc/systemd/network/10-eth0.network.d/60-vps-wizard-ipv6.conf"
    assert list(files) == [dest]
    assert "Address=2001:db8:1234::2/64\n" in files[dest]
    assert "[Route]\nGateway=fe80::1\n" in files[dest]
    assert files[dest].endswith("GatewayOnLink=yes\n")


def test_netplan_and_ifupdown_get_their_own_files() -> None:
    netplan = render({**ANSWERS, "manager": "netplan"})
    assert list(netplan) == ["/etc/netplan/60-vps-wizard-ipv6.yaml"]
    text = netplan["/etc/netplan/60-vps-wizard-ipv6.yaml"]
    assert "    eth0:\n" in text and '- "2001:db8:1234::2/64"' in text and 'via: "fe80::1"' in text
    ifupdown = render({**ANSWERS, "manager": "ifupdown"})
    stanza = ifupdown["/etc/network/interfaces.d/vps-wizard-ipv6"]
    assert "iface eth0 inet6 static\n\taddress 2001:db8:1234::2/64\n" in stanza
    assert "default via fe80::1 dev eth0 onlink" in stanza


def test_the_defaults_come_from_the_facts() -> None:
    network = dataclasses.replace(NETWORKD, ipv6=("2001:db8:1234::2/56",), ipv6_gateway="fe80::1")
    facts = dataclasses.replace(FACTS, network=network)
    host = HostRecord("SHA256:k", "192.0.2.10", 22)
    context = template_context(CATALOG, host, facts, "", STEP)
    assert default_answers(STEP, {}, context) == {**ANSWERS, "prefix_length": 56}


def test_the_zone_proposes_the_ipv6_step_s_address_for_its_aaaa() -> None:
    zone = CATALOG.get("dns-zone")
    facts = dataclasses.replace(FACTS, ipv6=("2001:db8:ffff::9",))
    applied = StepRecord("ipv6", "applied", ANSWERS)
    host = HostRecord("SHA256:k", "192.0.2.10", 22, steps={"ipv6": applied})
    assert default_answers(zone, {}, template_context(CATALOG, host, facts, "", zone))["ipv6"] == (
        "2001:db8:1234::2"
    )
    alone = HostRecord("SHA256:k", "192.0.2.10", 22)
    assert default_answers(zone, {}, template_context(CATALOG, alone, facts, "", zone))["ipv6"] == (
        "2001:db8:ffff::9"
    )


SS = """\
LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=80,fd=3))
LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=80,fd=4))
LISTEN 0 511 0.0.0.0:8080 0.0.0.0:* users:(("legacy\\x1b[31m",pid=90,fd=3))
LISTEN 0 100 127.0.0.1:25 0.0.0.0:* users:(("master",pid=70,fd=13))
LISTEN 0 100 [::1]:25 [::]:*
LISTEN 0 10 [fe80::1%eth0]:53 [::]:*
LISTEN 0 511 *:80 *:*
"""


def test_only_the_sockets_outside_can_reach_are_listed() -> None:
    assert [(each.port, each.address) for each in parse_listeners(SS)] == [
        (22, "0.0.0.0"),
        (22, "::"),
        (8080, "0.0.0.0"),
        (80, "*"),
    ]


def test_ports_answering_alike_on_both_families_pass() -> None:
    seen = [PortSeen(22, "open", "open"), PortSeen(81, "filtered", "filtered")]
    result = judge_services("192.0.2.10", "2001:db8::2", seen, parse_listeners(SS))
    assert result.status is CheckStatus.OK, result
    assert "22/tcp open on both" in result.summary
    assert "IPv6 2001:db8::2: 22/tcp open, 81/tcp filtered" in result.evidence


def test_a_service_on_ipv4_only_fails_naming_it_and_how_to_listen_on_ipv6() -> None:
    seen = [PortSeen(22, "open", "open"), PortSeen(8080, "open", "refused")]
    result = judge_services("192.0.2.10", "2001:db8::2", seen, parse_listeners(SS))
    assert result.status is CheckStatus.FAIL, result
    assert "8080/tcp is open on IPv4 but refused on IPv6" in result.summary
    assert "on IPv4 (0.0.0.0)" in result.summary
    assert "\x1b" not in result.summary  # the server's process name made visible
    assert "listen on IPv6 too" in result.hint and "firewall" not in result.hint


def test_a_port_open_on_ipv6_only_is_the_firewall_s() -> None:
    listeners = [Listener(3306, "*", "mariadbd")]
    seen = [PortSeen(3306, "filtered", "open")]
    result = judge_services("192.0.2.10", "2001:db8::2", seen, listeners)
    assert result.status is CheckStatus.FAIL, result
    assert "3306/tcp is filtered on IPv4 but open on IPv6" in result.summary
    assert "ip6 saddr/daddr" in result.hint


def test_an_address_this_machine_cannot_reach_is_a_warning() -> None:
    seen = [
        PortSeen(22, "open", "unreachable", "2001:db8::2: [Errno 101] Network is unreachable"),
        PortSeen(81, "filtered", "filtered"),
    ]
    result = judge_services("192.0.2.10", "2001:db8::2", seen, [])
    assert result.status is CheckStatus.WARN, result
    assert "Network is unreachable" in result.evidence
    assert "no IPv6 route" in result.hint


@pytest.mark.parametrize(
    ("changes", "network", "refused"),
    [
        ({}, Network("eth0"), "ipv6.manager: systemd-networkd manages no .network file"),
        ({"address": "fe80::2"}, NETWORKD, "ipv6.address: a link-local or multicast"),
        ({"gateway": "2001:db8:1234::2"}, NETWORKD, "ipv6.gateway: the gateway is the provider's"),
    ],
)
def test_answers_that_cannot_work_are_refused_with_the_reason(changes, network, refused) -> None:
    facts = dataclasses.replace(FACTS, network=network)
    context = {"answers": {**ANSWERS, **changes}, "facts": facts.as_template_context(), "steps": {}}
    with pytest.raises(AnswerError, match=refused):
        check_refusals(STEP, context)
    check_refusals(STEP, {**context, "answers": ANSWERS, "facts": FACTS_NETWORKD})
