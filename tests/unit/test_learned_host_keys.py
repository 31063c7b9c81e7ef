"""The host keys the guard's confirming session learns from the server: only well-formed
ed25519 and RSA public key lines are taken, whatever else the server prints."""

from __future__ import annotations

from wizard.hostkeys import parse_host_keys

ED = "AAAAC3NzaC1lZDI1NTE5AAAAIO5hXoaPmAVTp1bqJRjwJXrOqF6o9BXAV7MGwmI4tnu5"


def test_ed25519_and_rsa_lines_are_taken_with_or_without_comment():
    text = f"ssh-ed25519 {ED} root@vps\nssh-rsa AAAAB3NzaC1yc2E= \n"
    assert parse_host_keys(text) == [("ssh-ed25519", ED), ("ssh-rsa", "AAAAB3NzaC1yc2E=")]


def test_anything_else_is_ignored():
    hostile = "\n".join(
        [
            f"ecdsa-sha2-nistp256 {ED}",  # a type ssh-hardening drops
            f"@cert-authority * ssh-ed25519 {ED}",  # a marker known_hosts would obey
            f"ssh-ed25519 {ED}$(id)",  # not base64
            f"ssh-ed25519 {ED} x\x1b]0;title\x07",  # a comment is never written
            f"ssh-ed25519\t{ED};rm",
            "",
        ]
    )
    assert parse_host_keys(hostile) == [("ssh-ed25519", ED)]


def test_trust_adds_each_key_once_and_keeps_what_was_there(tmp_path):
    from wizard.hostkeys import trust

    known_hosts = tmp_path / "ssh" / "known_hosts"
    trust(known_hosts, "[192.0.2.10]:2222", [("ssh-ed25519", ED), ("ssh-ed25519", ED)])
    assert known_hosts.read_text() == f"[192.0.2.10]:2222 ssh-ed25519 {ED}\n"
    assert oct(known_hosts.parent.stat().st_mode & 0o777) == "0o700"
    trust(known_hosts, "[192.0.2.10]:2222", [("ssh-ed25519", ED), ("ssh-rsa", "AAAAB3NzaC1yc2E=")])
    assert known_hosts.read_text().splitlines() == [
        f"[192.0.2.10]:2222 ssh-ed25519 {ED}",
        "[192.0.2.10]:2222 ssh-rsa AAAAB3NzaC1yc2E=",
    ]
