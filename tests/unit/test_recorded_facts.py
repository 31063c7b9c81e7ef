"""Facts as the wizard reads them from real servers' recorded answers (tests/unit/recordings)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.unit.recordings import addresses, session
from wizard.aptsources import SecuritySource, security_source_to_add
from wizard.facts import Facts


def sshd(facts: Facts, kind: str) -> Any:
    """One kind of the sshd facts (version, kex, files, ...), as wizard.sshdconfig parsed it."""
    return facts.sshd[kind]


def security_source(facts: Facts) -> SecuritySource | None:
    """The security source the base step would add (None: apt lists one already)."""
    return security_source_to_add(facts.apt_sources, facts.os_family, facts.os_codename)


def test_a_fresh_debian_12_is_debian_bookworm_reached_as_root(tmp_path: Path) -> None:
    facts = session("debian12-fresh", tmp_path).facts
    server, client = addresses("debian12-fresh")
    assert (facts.os_id, facts.os_version, facts.os_codename) == ("debian", "12", "bookworm")
    assert facts.os_family == "debian"
    assert facts.os_pretty == "Debian GNU/Linux 12 (bookworm)"
    assert (facts.hostname, facts.fqdn, facts.timezone) == ("vps", "", "Etc/UTC")
    assert facts.ipv4 == (server,) and facts.ipv6 == ()
    assert (facts.client_address, facts.ssh_port, facts.login_user) == (client, 22, "root")
    assert {"openssh-server", "sudo"} <= facts.packages
    assert "unattended-upgrades" not in facts.packages
    assert facts.server_state == {} and facts.unfinished_runs == () and facts.drifted_files == ()
    assert str(sshd(facts, "version")).startswith("OpenSSH_9.2p1 Debian")
    assert "curve25519-sha256" in sshd(facts, "kex")
    assert list(sshd(facts, "files")) == ["/etc/ssh/sshd_config"]
    # Debian lists bookworm-security already: the base step has no source to add.
    assert security_source(facts) is None


def test_a_fresh_ubuntu_24_04_is_ubuntu_noble(tmp_path: Path) -> None:
    opened = session("ubuntu2404-fresh", tmp_path)
    facts = opened.facts
    assert (facts.os_id, facts.os_version, facts.os_codename) == ("ubuntu", "24.04", "noble")
    assert facts.os_family == "ubuntu"
    assert facts.os_pretty.startswith("Ubuntu 24.04")
    assert str(sshd(facts, "version")).startswith("OpenSSH_9.6p1 Ubuntu")
    assert security_source(facts) is None
    # The overview offers only the steps that say they apply to Ubuntu.
    offered = {status.step.id for status in opened.overview()}
    assert {"base", "admin-user", "ssh-hardening", "firewall", "fail2ban"} <= offered
    assert all("ubuntu" in status.step.applies_to for status in opened.overview())


def test_a_provider_image_shows_its_sshd_drop_in_and_its_missing_security_source(
    tmp_path: Path,
) -> None:
    facts = session("debian12-provider", tmp_path).facts
    files = sshd(facts, "files")
    assert list(files) == ["/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/00-provider.conf"]
    assert files["/etc/ssh/sshd_config.d/00-provider.conf"].splitlines() == [
        "PermitRootLogin yes",
        "PasswordAuthentication yes",
    ]
    # The line the provider put above the Include, which sshd reads before any drop-in.
    assert files["/etc/ssh/sshd_config"].splitlines()[0] == "PasswordAuthentication yes"
    source = security_source(facts)
    assert source is not None
    assert (source.uri, source.suite) == (
        "http://deb.debian.org/debian-security",
        "bookworm-security",
    )


def test_a_server_with_steps_applied_shows_them_and_its_unfinished_run(tmp_path: Path) -> None:
    facts = session("debian12-interrupted", tmp_path).facts
    assert (facts.hostname, facts.fqdn, facts.timezone) == ("server", "server.example.net", "UTC")
    assert facts.login_user == "admin"  # through sudo: the user who logged in, not root
    assert "unattended-upgrades" in facts.packages
    # One run, its id as new_run_id makes them (UTC time, randomness).
    assert len(facts.unfinished_runs) == 1
    assert re.fullmatch(r"\d{8}T\d{6}(\d{3})?Z-[0-9a-f]{6}", facts.unfinished_runs[0])
    copy: Any = facts.server_state
    assert copy["admin_user"] == "admin"
    assert set(copy["steps"]) == {"base", "admin-user"}
    # ssh-hardening's drop-in is still in place when the facts are read (recovery follows).
    assert "/etc/ssh/sshd_config.d/00-vps-wizard.conf" in sshd(facts, "files")
