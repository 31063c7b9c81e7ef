"""The pure judges of the checks, against outputs of healthy and of broken servers.

The healthy outputs were taken from a Debian 12 test host after the steps were applied; the
broken ones are the same with the fault a real server shows.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import paramiko
import pytest

from wizard.checks import fail2ban, fail2ban_regex, firewall, ssh, system
from wizard.checks.base import CheckResult, split_sections
from wizard.checks.firewall import Probe
from wizard.probes.tcp import TcpState
from wizard.remote import fingerprint


def assert_fails(result: CheckResult, *words: str) -> None:
    """A fail that says what was seen and what to do, mentioning each of words."""
    assert result.status == "fail", result
    assert result.hint.strip(), "a fail must say what to do"
    assert result.evidence.strip(), "a fail must show what was seen"
    text = f"{result.summary}\n{result.evidence}"
    for word in words:
        assert word in text, (word, text)


# ----------------------------------------------------------------------------- output sections


def test_markers_split_output_even_after_a_value_without_newline() -> None:
    script = "\n".join(
        [system.marker("A"), "printf 'no newline'", system.marker("B"), "echo two; echo lines"]
    )
    output = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout
    assert split_sections(output) == {"A": "no newline", "B": "two\nlines"}


# ----------------------------------------------------------------------------- system

HOSTS = """\
# Managed by vps-wizard (step base). Changes here show up as drift.
127.0.0.1	localhost
203.0.113.10	vps.example.org vps

::1	localhost ip6-localhost ip6-loopback
"""


def test_hostname_healthy() -> None:
    result = system.judge_hostname("vps.example.org", "vps.example.org\n", "vps\n", HOSTS)
    assert result.status == "ok"


def test_hostname_not_in_hosts_fails() -> None:
    hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
    result = system.judge_hostname(
        "vps.example.org", "hostname: Temporary failure in name resolution", "vps", hosts
    )
    assert_fails(result, "/etc/hosts", "vps.example.org")


def test_hostname_short_name_listed_first_fails() -> None:
    hosts = "127.0.0.1 localhost\n203.0.113.10 vps vps.example.org\n"
    result = system.judge_hostname("vps.example.org", "vps", "vps", hosts)
    assert_fails(result, "hostname -f answers 'vps'")


def test_hostname_wrong_short_name_fails() -> None:
    result = system.judge_hostname("vps.example.org", "vps.example.org", "debian", HOSTS)
    assert_fails(result, "debian")
    assert "hostnamectl set-hostname vps" in result.hint


def test_timezone() -> None:
    assert system.judge_timezone("Europe/Paris", "Europe/Paris\n").status == "ok"
    result = system.judge_timezone("Europe/Paris", "Etc/UTC\n")
    assert_fails(result, "Etc/UTC")
    assert "timedatectl set-timezone Europe/Paris" in result.hint


APT_DUMP = """\
APT::Periodic "";
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
"""


def test_unattended_healthy() -> None:
    assert system.judge_unattended("ii ", APT_DUMP, "enabled\n").status == "ok"


def test_unattended_not_installed_fails() -> None:
    result = system.judge_unattended(
        "dpkg-query: no packages found matching unattended-upgrades", "", "enabled"
    )
    assert_fails(result, "not installed")


def test_unattended_switched_off_fails() -> None:
    dump = APT_DUMP.replace('Unattended-Upgrade "1"', 'Unattended-Upgrade "0"')
    assert_fails(
        system.judge_unattended("ii ", dump, "enabled"), "APT::Periodic::Unattended-Upgrade"
    )
    no_lists = APT_DUMP.replace('APT::Periodic::Update-Package-Lists "1";\n', "")
    assert_fails(
        system.judge_unattended("ii ", no_lists, "enabled"), "APT::Periodic::Update-Package-Lists"
    )


def test_unattended_timer_disabled_fails() -> None:
    result = system.judge_unattended("ii ", APT_DUMP, "disabled\n")
    assert_fails(result, "disabled")
    assert "systemctl enable" in result.hint


SIMULATION_CLEAN = """\
NOTE: This is only a simulation!
Reading package lists...
Building dependency tree...
Calculating upgrade...
0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
"""
SIMULATION_PENDING = """\
Calculating upgrade...
The following packages will be upgraded:
  libssl3 openssl
2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
Inst libssl3 [3.0.15-1~deb12u1] (3.0.16-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.15-1~deb12u1] (3.0.16-1~deb12u1 Debian-Security:12/stable-security [amd64])
Conf libssl3 (3.0.16-1~deb12u1 Debian-Security:12/stable-security [amd64])
Conf openssl (3.0.16-1~deb12u1 Debian-Security:12/stable-security [amd64])
"""


def test_upgraded_healthy() -> None:
    assert system.judge_upgraded(SIMULATION_CLEAN, 0, "").status == "ok"


def test_upgraded_pending_warns_with_count() -> None:
    result = system.judge_upgraded(SIMULATION_PENDING, 0, "")
    assert result.status == "warn"
    assert "2 upgrades pending" in result.summary
    assert "libssl3, openssl" in result.evidence
    assert "full-upgrade" in result.hint


def test_upgraded_reboot_required_warns() -> None:
    result = system.judge_upgraded(SIMULATION_CLEAN, 0, "yes\nlinux-image-6.1.0-31-amd64\n")
    assert result.status == "warn"
    assert "reboot" in result.summary
    assert "linux-image-6.1.0-31-amd64" in result.evidence
    assert result.hint


def test_upgraded_broken_apt_fails() -> None:
    output = "E: Unmet dependencies. Try 'apt --fix-broken install' with no packages.\n"
    assert_fails(system.judge_upgraded(output, 100, ""), "Unmet dependencies")


# ----------------------------------------------------------------------------- ssh

SSHD_T_HARDENED = """\
port 22
addressfamily any
listenaddress [::]:22
listenaddress 0.0.0.0:22
permitrootlogin no
pubkeyauthentication yes
passwordauthentication no
kbdinteractiveauthentication no
x11forwarding no
allowtcpforwarding no
allowagentforwarding no
kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512
ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr
macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com
"""  # noqa: E501 - sshd -T prints each list on one line


def sshd_t(**changes: str) -> str:
    """The hardened `sshd -T` output with some keywords set to other values."""
    lines = []
    for line in SSHD_T_HARDENED.splitlines():
        key = line.split()[0]
        lines.append(f"{key} {changes[key]}" if key in changes else line)
    return "\n".join(lines) + "\n"


def test_sshd_config_healthy() -> None:
    result = ssh.judge_sshd_config(SSHD_T_HARDENED, 0, 22, False, False)
    assert result.status == "ok", result


def test_sshd_config_password_authentication_fails() -> None:
    result = ssh.judge_sshd_config(sshd_t(passwordauthentication="yes"), 0, 22, False, False)
    assert_fails(result, "passwordauthentication yes")


def test_sshd_config_debian_default_fails_on_root_and_weak_algorithms() -> None:
    output = sshd_t(
        permitrootlogin="without-password",
        kexalgorithms="curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group14-sha1",
        ciphers="aes128-ctr,aes256-cbc",
        macs="umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256,hmac-sha1",
    )
    result = ssh.judge_sshd_config(output, 0, 22, False, False)
    assert_fails(
        result,
        "permitrootlogin without-password",
        "ecdh-sha2-nistp256",
        "diffie-hellman-group14-sha1",
        "aes256-cbc",
        "umac-64-etm@openssh.com",
        "macs: hmac-sha2-256,",
        "hmac-sha1",
    )
    assert "curve25519-sha256," not in result.summary
    assert "hmac-sha2-256-etm" not in result.summary


def test_sshd_config_port_and_forwarding_as_asked() -> None:
    assert_fails(ssh.judge_sshd_config(SSHD_T_HARDENED, 0, 2222, False, False), "2222")
    both = SSHD_T_HARDENED.replace("port 22\n", "port 22\nport 2222\n")
    assert ssh.judge_sshd_config(both, 0, 2222, False, False).status == "ok"
    allowed = sshd_t(x11forwarding="yes", allowtcpforwarding="all")
    assert ssh.judge_sshd_config(allowed, 0, 22, True, True).status == "ok"
    assert_fails(ssh.judge_sshd_config(allowed, 0, 22, False, False), "x11forwarding yes")
    local = sshd_t(allowtcpforwarding="local")
    assert_fails(ssh.judge_sshd_config(local, 0, 22, False, False), "allowtcpforwarding local")


def test_sshd_config_unreadable_fails() -> None:
    output = "/etc/ssh/sshd_config.d/00-vps-wizard.conf line 3: Bad configuration option: Prot\n"
    assert_fails(ssh.judge_sshd_config(output, 255, 22, False, False), "Bad configuration")


@pytest.mark.parametrize(
    ("kind", "name", "weak"),
    [
        ("kexalgorithms", "sntrup761x25519-sha512@openssh.com", False),
        ("kexalgorithms", "diffie-hellman-group16-sha512", False),
        ("kexalgorithms", "diffie-hellman-group1-sha1", True),
        ("kexalgorithms", "diffie-hellman-group-exchange-sha1", True),
        ("kexalgorithms", "ecdh-sha2-nistp521", True),
        ("ciphers", "aes128-gcm@openssh.com", False),
        ("ciphers", "3des-cbc", True),
        ("macs", "umac-128-etm@openssh.com", False),
        ("macs", "hmac-sha2-512", True),
        ("macs", "hmac-md5-etm@openssh.com", True),
    ],
)
def test_weak_algorithms(kind: str, name: str, weak: bool) -> None:
    assert ssh.is_weak_algorithm(kind, name) is weak


def test_login() -> None:
    where = "admin@203.0.113.10 port 22"
    assert ssh.judge_login("admin", where, "", 0, "").status == "ok"
    refused = ssh.judge_login("admin", where, "admin@203.0.113.10 refused the login", None, "")
    assert_fails(refused, "refused the login")
    assert "authorized_keys" in refused.hint
    silent = ssh.judge_login(
        "admin",
        where,
        "203.0.113.10:22 did not answer within 15 s.",
        None,
        "",
        connect_hint="Check the address and that the server is up; a firewall may drop SSH.",
    )
    assert_fails(silent, "did not answer")
    assert "firewall" in silent.hint
    no_sudo = ssh.judge_login("admin", where, "", 1, "sudo: a password is required\n")
    assert_fails(no_sudo, "a password is required")
    assert "--ask-sudo-password" in no_sudo.hint
    wrong_password = ssh.judge_login(
        "admin", where, "", 1, "sudo: 1 incorrect password attempt", sudo_password_given=True
    )
    assert_fails(wrong_password, "incorrect password")


def test_root_refused() -> None:
    assert ssh.judge_root_refused([("~/.ssh/id_ed25519", "refused")]).status == "ok"
    result = ssh.judge_root_refused([("agent key SHA256:x", "refused"), ("id_rsa", "accepted")])
    assert_fails(result, "root with id_rsa: accepted")
    assert "PermitRootLogin no" in result.hint
    nothing = ssh.judge_root_refused([])
    assert nothing.status == "warn"
    assert nothing.hint
    # sshd hanging up before any key was judged proves nothing.
    assert ssh.judge_root_refused([("id_rsa", "closed")]).status == "warn"


def test_password_refused() -> None:
    result = ssh.judge_password_refused("admin", ["publickey"])
    assert result.status == "ok"
    assert "publickey" in result.evidence
    assert_fails(ssh.judge_password_refused("admin", ["publickey", "password"]), "password")
    assert_fails(
        ssh.judge_password_refused("admin", ["publickey", "keyboard-interactive"]),
        "keyboard-interactive",
    )
    assert_fails(ssh.judge_password_refused("admin", None), "without any authentication")


def test_host_key_trust() -> None:
    server, other = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    name = server.get_name()
    assert ssh.host_key_problem(server, {name: server}, "SHA256:whatever") == ""
    assert "changed" in ssh.host_key_problem(server, {name: other}, fingerprint(server))
    # Not recorded for this port: trusted only if it is the key of the wizard's own session.
    assert ssh.host_key_problem(server, {}, fingerprint(server)) == ""
    assert "not in known_hosts" in ssh.host_key_problem(server, {}, fingerprint(other))


# ----------------------------------------------------------------------------- firewall

NFT_TABLE = """\
table inet vpswizard {
	set blocked4 {
		type ipv4_addr
		flags interval
	}

	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ip saddr @blocked4 drop
		ct state established,related accept
		ct state invalid drop
		tcp dport { 22, 80, 443 } ct state new accept
	}

	chain output {
		type filter hook output priority filter; policy accept;
	}
}
"""


def test_firewall_active_healthy() -> None:
    result = firewall.judge_active(NFT_TABLE, 0, "enabled\n")
    assert result.status == "ok"
    assert "policy drop" in result.evidence
    assert "tcp dport { 22, 80, 443 }" in result.evidence
    # The output chain's policy accept is not the input chain's.
    assert "hook output" not in result.evidence


def test_firewall_policy_accept_fails() -> None:
    listing = NFT_TABLE.replace(
        "hook input priority filter; policy drop;", "hook input priority filter; policy accept;"
    )
    assert_fails(firewall.judge_active(listing, 0, "enabled"), "policy accept")


def test_firewall_table_missing_or_not_persistent_fails() -> None:
    missing = "Error: No such file or directory\nlist table inet vpswizard\n"
    assert_fails(firewall.judge_active(missing, 1, "enabled"), "No such file")
    assert_fails(firewall.judge_active("sh: 2: nft: not found", 127, ""), "not found")
    result = firewall.judge_active(NFT_TABLE, 0, "disabled\n")
    assert_fails(result, "disabled")
    assert "systemctl enable nftables" in result.hint


def test_closed_ports_skip_allowed_ones() -> None:
    assert firewall.closed_ports([22, 8443]) == [81, 31337, 4444]
    assert firewall.split_ports(["22/tcp", "443", "53/udp", "80/tcp"]) == (
        [22, 80, 443],
        ["53/udp"],
    )


V4, V6 = "203.0.113.10", "2001:db8::10"


def probes(v6_seen: dict[int, TcpState] | None = None) -> list[Probe]:
    """A scan of 22 (open) and 81, 8443 (closed) on both families; v6_seen overrides IPv6."""
    result = [
        Probe(V4, 22, "answer", "open"),
        Probe(V4, 81, "filtered", "filtered"),
        Probe(V4, 8443, "filtered", "filtered"),
    ]
    for port, expect in ((22, "answer"), (81, "filtered"), (8443, "filtered")):
        seen = (v6_seen or {}).get(port, "open" if expect == "answer" else "filtered")
        result.append(Probe(V6, port, expect, seen))  # type: ignore[arg-type]
    return result


def test_ports_healthy() -> None:
    result = firewall.judge_ports(probes(), ["53/udp"])
    assert result.status == "ok"
    assert "udp not probed: 53/udp" in result.evidence


def test_ports_missing_ipv6_rule_fails() -> None:
    result = firewall.judge_ports(probes({22: "filtered"}), [])
    assert_fails(result, "22/tcp on IPv6 2001:db8::10 does not answer", "disagree on 22/tcp")


def test_ports_refused_counts_as_answer_but_not_for_closed_ports() -> None:
    assert firewall.judge_ports(probes({22: "refused"}), []).status == "ok"
    result = firewall.judge_ports(probes({8443: "refused"}), [])
    assert_fails(result, "8443/tcp on IPv6 2001:db8::10 answers though it is not opened")


def test_ports_unreachable_ipv6_warns() -> None:
    v6 = dict.fromkeys((22, 81, 8443), "unreachable")
    result = firewall.judge_ports(probes(v6), [])  # type: ignore[arg-type]
    assert result.status == "warn"
    assert "IPv6 2001:db8::10" in result.summary
    assert result.hint


# ----------------------------------------------------------------------------- fail2ban

F2B_STATUS = "Status\n|- Number of jail:\t2\n`- Jail list:\tpostfix-auth, sshd\n"


def test_jails() -> None:
    assert fail2ban.judge_jails(["sshd", "postfix-auth"], F2B_STATUS, 0).status == "ok"
    only_sshd = "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"
    result = fail2ban.judge_jails(["sshd", "postfix-auth"], only_sshd, 0)
    assert_fails(result, "postfix-auth")
    assert "journalctl -u fail2ban" in result.hint
    down = "Failed to access socket path: /var/run/fail2ban/fail2ban.sock. Is fail2ban running?"
    assert_fails(fail2ban.judge_jails(["sshd"], down, 255), "Is fail2ban running")


IGNOREIP = """\
These IP addresses/networks are ignored:
|- 127.0.0.0/8
|- ::1
|- 198.51.100.0/24
`- 203.0.113.7
"""


def test_ignoreip() -> None:
    assert fail2ban.judge_ignoreip("203.0.113.7", IGNOREIP, 0).status == "ok"
    assert fail2ban.judge_ignoreip("198.51.100.42", IGNOREIP, 0).status == "ok"
    assert_fails(fail2ban.judge_ignoreip("203.0.113.8", IGNOREIP, 0), "203.0.113.8")
    assert_fails(fail2ban.judge_ignoreip("2001:db8::7", IGNOREIP, 0), "2001:db8::7")
    unknown = fail2ban.judge_ignoreip("", "", 0)
    assert unknown.status == "warn"
    assert unknown.hint


RULESET_EMPTY = """\
table inet vpswizard {
	chain input {
		type filter hook input priority filter; policy drop;
	}
}
table inet f2b-table {
	set addr-set-sshd {
		type ipv4_addr
	}
}
"""
RULESET_BANNED = RULESET_EMPTY.replace(
    "\t\ttype ipv4_addr\n\t}", "\t\ttype ipv4_addr\n\t\telements = { 192.0.2.77 }\n\t}"
)


def ban_sections(after_ban: str, after_unban: str, ban_rc: str = "0") -> dict[str, str]:
    """What the test-ban script prints, split at its markers."""
    return {
        "BAN": "1",
        "BAN_RC": ban_rc,
        "AFTER_BAN": after_ban,
        "UNBAN": "1",
        "UNBAN_RC": "0",
        "AFTER_UNBAN": after_unban,
    }


def test_test_ban_healthy() -> None:
    result = fail2ban.judge_test_ban(
        "sshd", "192.0.2.77", ban_sections(RULESET_BANNED, RULESET_EMPTY)
    )
    assert result.status == "ok"
    assert "elements = { 192.0.2.77 }" in result.evidence


def test_test_ban_left_after_unban_fails() -> None:
    result = fail2ban.judge_test_ban(
        "sshd", "192.0.2.77", ban_sections(RULESET_BANNED, RULESET_BANNED)
    )
    assert_fails(result, "unban left 192.0.2.77")
    assert "unbanip 192.0.2.77" in result.hint


def test_test_ban_not_in_firewall_fails() -> None:
    result = fail2ban.judge_test_ban(
        "sshd", "192.0.2.77", ban_sections(RULESET_EMPTY, RULESET_EMPTY)
    )
    assert_fails(result, "does not reach the firewall")
    refused = fail2ban.judge_test_ban("sshd", "192.0.2.77", ban_sections("", "", ban_rc="255"))
    assert_fails(refused, "refused to ban")


def test_test_ban_matches_the_exact_address() -> None:
    # 192.0.2.7 is a prefix of the banned 192.0.2.77: it must not count as present.
    result = fail2ban.judge_test_ban("sshd", "192.0.2.7", ban_sections(RULESET_BANNED, ""))
    assert_fails(result, "does not reach the firewall")


@pytest.mark.parametrize("address", ["8.8.8.8", "192.0.3.1", "2001:db8::1", "", "192.0.2.1; rm"])
def test_test_ban_refuses_real_addresses(address: str) -> None:
    refused = fail2ban.refuse_test_address(address)
    assert refused is not None
    assert_fails(refused, "refused to test-ban")
    assert fail2ban.refuse_test_address("192.0.2.200") is None


def fake_tools(tmp_path: Path, tools: dict[str, str]) -> dict[str, str]:
    """An environment whose PATH finds the given shell scripts first."""
    for name, body in tools.items():
        path = tmp_path / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


def test_test_ban_script_against_fake_fail2ban(tmp_path: Path) -> None:
    state = tmp_path / "banned"
    state.write_text("")
    env = fake_tools(
        tmp_path,
        {
            # fail2ban-client set JAIL banip|unbanip ADDR
            "fail2ban-client": f'[ "$3" = banip ] && echo "$4" > {state}; '
            f'[ "$3" = unbanip ] && : > {state}; echo 1\n',
            "nft": f'echo "set addr-set-sshd {{ elements = {{ $(cat {state}) }} }}"\n',
        },
    )
    script = fail2ban.trial_ban_script("sshd", "192.0.2.77")
    output = subprocess.run(["sh"], input=script, capture_output=True, text=True, env=env).stdout
    result = fail2ban.judge_test_ban("sshd", "192.0.2.77", split_sections(output))
    assert result.status == "ok", result


def test_filter_script_feeds_exactly_the_seed_lines(tmp_path: Path) -> None:
    # The fake prints the log file it was given, then where the file was.
    env = fake_tools(tmp_path, {"fail2ban-regex": 'cat "$3"; echo "FILE $3"\n'})
    script = fail2ban_regex.filter_matches_script("postfix-auth")
    assert "/etc/fail2ban/filter.d/postfix-auth.conf" in script
    output = subprocess.run(["sh"], input=script, capture_output=True, text=True, env=env).stdout
    *lines, file_line = output.splitlines()
    assert lines == list(fail2ban_regex.SEED_LINES)
    assert not Path(file_line.removeprefix("FILE ")).exists(), "the temporary file is removed"


REGEX_HEALTHY = """\

Running tests
=============

Use   failregex filter file : postfix-auth, basedir: /etc/fail2ban
Use      datepattern : {^LN-BEG} : Default Detectors
Use         log file : /tmp/tmp.bJypCD3XSe
Use         encoding : UTF-8


Results
=======

Failregex: 3 total
|-  #) [# of hits] regular expression
|   1) [3] ^(?:\\[\\])?\\s*lost connection after (?:AUTH|UNKNOWN|EHLO) from [^[]*\\[<HOST>\\]$
|      68.236.203.102  Mon Dec 15 16:30:34 2025
|      68.236.203.102  Mon Dec 15 16:30:34 2025
|      68.236.203.102  Mon Dec 15 16:30:34 2025
`-

Ignoreregex: 0 total

Date template hits:
|- [# of hits] date format
|  [4] {^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\\.Microseconds)?(?: ExYear)?
`-

Lines: 4 lines, 0 ignored, 3 matched, 1 missed
[processed in 0.00 sec]

|- Matched line(s):
|  Dec 15 16:30:34 mail postfix/smtpd[5912]: lost connection after AUTH from static-68-236-203-102.nwrk.east.verizon.net[68.236.203.102]
|  Dec 15 16:30:34 mail postfix/smtpd[5912]: lost connection after UNKNOWN from static-68-236-203-102.nwrk.east.verizon.net[68.236.203.102]
|  Dec 15 16:30:34 mail postfix/smtpd[5912]: lost connection after EHLO from static-68-236-203-102.nwrk.east.verizon.net[68.236.203.102]
`-
|- Missed line(s):
|  Dec 15 16:30:33 mail postfix/smtpd[5912]: connect from static-68-236-203-102.nwrk.east.verizon.net[68.236.203.102]
`-
"""  # noqa: E501 - fail2ban-regex prints each log line whole


def test_filter_matches_healthy() -> None:
    result = fail2ban_regex.judge_filter_matches("postfix-auth", REGEX_HEALTHY, 0)
    assert result.status == "ok", result
    assert "3 matched" in result.evidence
    assert "68.236.203.102" in result.evidence


def test_filter_matches_nothing_fails() -> None:
    output = REGEX_HEALTHY.split("Failregex:")[0] + (
        "Failregex: 0 total\n\nIgnoreregex: 0 total\n\n"
        "Lines: 4 lines, 0 ignored, 0 matched, 4 missed\n[processed in 0.00 sec]\n\n"
        "|- Missed line(s):\n"
        + "".join(f"|  {line}\n" for line in fail2ban_regex.SEED_LINES)
        + "`-\n"
    )
    result = fail2ban_regex.judge_filter_matches("postfix-auth", output, 0)
    assert_fails(result, "3 of 3 flood lines not matched", "0 matched")


def test_filter_matching_the_connect_line_fails() -> None:
    output = (
        REGEX_HEALTHY.replace("3 matched, 1 missed", "4 matched, 0 missed")
        .replace("|- Missed line(s):\n", "")
        .replace(
            "`-\n|  Dec 15 16:30:33",
            "|  Dec 15 16:30:33",
        )
        .replace(
            "|      68.236.203.102  Mon Dec 15 16:30:34 2025\n`-",
            "|      68.236.203.102  Mon Dec 15 16:30:34 2025\n"
            "|      68.236.203.102  Mon Dec 15 16:30:33 2025\n`-",
        )
    )
    assert fail2ban_regex.matched_lines(output)[-1] == fail2ban_regex.SEED_MISS
    assert_fails(fail2ban_regex.judge_filter_matches("postfix-auth", output, 0), "'connect from'")


def test_filter_wrong_host_or_missing_tool_fails() -> None:
    wrong = REGEX_HEALTHY.replace("|      68.236.203.102", "|      static-68-236-203-102")
    assert_fails(
        fail2ban_regex.judge_filter_matches("postfix-auth", wrong, 0), "is not 68.236.203.102"
    )
    missing = fail2ban_regex.judge_filter_matches(
        "postfix-auth", "sh: 8: fail2ban-regex: not found", 127
    )
    assert_fails(missing, "not installed")
    unknown_filter = "ERROR: Failed to load filter file /etc/fail2ban/filter.d/nope.conf\n"
    assert_fails(fail2ban_regex.judge_filter_matches("nope", unknown_filter, 255), "could not run")
