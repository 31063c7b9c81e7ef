"""ssh-hardening against a provider's configuration: the lines that would override the drop-in
are found and commented out, the algorithms follow the server's OpenSSH and the wizard's
client, and the outside check reads what sshd really offers."""

from __future__ import annotations

import base64

import pytest

from wizard.catalog import load_catalog
from wizard.checks.ssh import judge_algorithms, parse_kexinit
from wizard.errors import WizardError
from wizard.facts import Facts, parse_facts
from wizard.plan import render_step
from wizard.sshdconfig import (
    MANAGED,
    MARKER,
    find_overrides,
    keyword,
    neutralised,
    parse_sshd_facts,
    sshd_algorithms,
    sshd_overrides,
    wizard_speaks,
)

OURS = "/etc/ssh/sshd_config.d/00-vps-wizard.conf"
SSHD_CONFIG = (
    "PasswordAuthentication yes\n"
    "Include /etc/ssh/sshd_config.d/*.conf\n"
    "KbdInteractiveAuthentication no\n"
    "X11Forwarding yes\n"
    "Subsystem sftp /usr/lib/openssh/sftp-server\n"
    "Match User root\n"
    "  PermitRootLogin=yes\n"
)
PROVIDER = (
    "# the provider's image\n"
    "PermitRootLogin yes\n"
    "passwordauthentication yes\n"
    "HostKey /etc/ssh/ssh_host_ecdsa_key\n"
    "UseDNS no\n"
)
CLOUD_INIT = "PasswordAuthentication yes\n"
FILES = {
    "/etc/ssh/sshd_config": SSHD_CONFIG,
    "/etc/ssh/sshd_config.d/00-provider.conf": PROVIDER,
    "/etc/ssh/sshd_config.d/50-cloud-init.conf": CLOUD_INIT,
    OURS: "PermitRootLogin no\n",
}
# `ssh -Q` as OpenSSH 9.2 (Debian 12) and 10.0 (Debian 13) print it, shortened.
KEX_92 = [
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group-exchange-sha256",
    "ecdh-sha2-nistp256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "sntrup761x25519-sha512@openssh.com",
]
KEX_100 = [*KEX_92, "sntrup761x25519-sha512", "mlkem768x25519-sha256"]


def test_the_lines_that_beat_the_drop_in_are_found_with_file_and_line():
    found = {(o.path.rsplit("/", 1)[-1], o.line) for o in find_overrides(FILES, OURS)}
    assert found == {
        ("sshd_config", 1),  # above the Include
        ("sshd_config", 7),  # in a Match block, after the Include
        ("00-provider.conf", 2),
        ("00-provider.conf", 3),  # keywords are case-insensitive
        ("00-provider.conf", 4),  # HostKey lines add up wherever they are
    }


def test_lines_read_after_the_drop_in_and_other_keywords_are_left_alone():
    overrides = find_overrides(FILES, OURS)
    assert not any(o.path.endswith(("50-cloud-init.conf", "00-vps-wizard.conf")) for o in overrides)
    assert not any("X11Forwarding" in o.text or "UseDNS" in o.text for o in overrides)


def test_without_any_provider_line_nothing_is_rewritten():
    debian = "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n"
    assert sshd_overrides({"/etc/ssh/sshd_config": debian}, OURS) == []


def test_each_file_is_rewritten_with_its_lines_commented_and_the_rest_kept():
    items = {item["path"]: item for item in sshd_overrides(FILES, OURS)}
    assert set(items) == {"/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/00-provider.conf"}
    provider = items["/etc/ssh/sshd_config.d/00-provider.conf"]
    assert provider["text"] == (
        "# the provider's image\n"
        f"{MARKER}PermitRootLogin yes\n"
        f"{MARKER}passwordauthentication yes\n"
        f"{MARKER}HostKey /etc/ssh/ssh_host_ecdsa_key\n"
        "UseDNS no\n"
    )
    assert provider["lines"][0].startswith(
        "/etc/ssh/sshd_config.d/00-provider.conf:2: PermitRootLogin yes (read before"
    )
    main = items["/etc/ssh/sshd_config"]
    assert f"{MARKER}PermitRootLogin=yes" in main["text"]
    assert "Match User root\n" in main["text"]


def test_lines_are_counted_as_sshd_counts_them():
    # \f is not a line break for sshd: str.splitlines would shift every line after it.
    text = "UseDNS no\fstill line one\nPermitRootLogin yes\n"
    found = find_overrides({"/etc/ssh/sshd_config.d/00-a.conf": text}, OURS)
    assert [(o.line, o.text) for o in found] == [(2, "PermitRootLogin yes")]
    assert neutralised(text, [2]) == f"UseDNS no\fstill line one\n{MARKER}PermitRootLogin yes\n"


def test_the_managed_keywords_are_every_keyword_the_drop_in_sets():
    rendered = drop_in(kex=KEX_92)
    keywords = {keyword(line) for line in rendered.split("\n")} - {""}
    assert keywords <= MANAGED


def test_algorithms_follow_the_servers_openssh_post_quantum_first():
    assert sshd_algorithms("kex", KEX_92)[0] == "sntrup761x25519-sha512@openssh.com"
    chosen = sshd_algorithms("kex", KEX_100)
    assert chosen[0] == "mlkem768x25519-sha256"  # both the server and paramiko speak it
    assert not any("nistp" in n or "exchange" in n or "sha1" in n for n in chosen)


def test_a_server_offering_nothing_the_wizard_speaks_is_refused_before_any_plan():
    with pytest.raises(WizardError, match="wizard speaks"):
        sshd_algorithms("kex", ["sntrup761x25519-sha512@openssh.com"])
    assert set(sshd_algorithms("cipher", [])) & wizard_speaks("cipher")


def fake_facts(kex: list[str], files: dict[str, str], rsa_bits: int = 3072) -> Facts:
    def entry(path: str, text: str) -> str:
        return (
            f"file {base64.b64encode(path.encode()).decode()} "
            + base64.b64encode(text.encode()).decode()
        )

    lines = [f"kex {' '.join(kex)}", f"rsa_bits {rsa_bits}"]
    lines += [entry(path, text) for path, text in files.items()]
    output = "kernel=6\n@@OS-RELEASE\nID=debian\n@@STATE\n\n@@DRIFT\n@@SSHD\n" + "\n".join(lines)
    return parse_facts(output)


def render(kex: list[str], files: dict[str, str], rsa_bits: int = 3072):
    step = load_catalog().get("ssh-hardening")
    context = {
        "answers": {"port": 2222, "allow_x11": False, "allow_tcp_forwarding": False},
        "facts": fake_facts(kex, files, rsa_bits).as_template_context(),
        "steps": {"admin-user": {"username": "admin"}},
    }
    return {f.dest: f for f in render_step(step, context).files}


def drop_in(kex: list[str], rsa_bits: int = 3072) -> str:
    return render(kex, {}, rsa_bits)[OURS].content.decode()


def test_the_facts_carry_the_servers_files_as_text():
    facts = fake_facts(KEX_92, FILES)
    assert facts.sshd["files"]["/etc/ssh/sshd_config.d/00-provider.conf"] == PROVIDER
    assert facts.sshd["rsa_bits"] == 3072
    assert (
        parse_sshd_facts(["file !!! ???", "file " + base64.b64encode(b"/etc/passwd").decode()])[
            "files"
        ]
        == {}
    )


def test_the_step_owns_the_rewritten_files_and_validates_the_effective_settings():
    files = render(KEX_100, FILES)
    assert set(files) == {
        OURS,
        "/etc/ssh/sshd_config",
        "/etc/ssh/sshd_config.d/00-provider.conf",
    }
    provider = files["/etc/ssh/sshd_config.d/00-provider.conf"]
    assert b"00-provider.conf:2: PermitRootLogin yes" in provider.content
    assert f"{MARKER}PermitRootLogin yes\n".encode() in provider.content
    for change in files.values():
        assert change.validate is not None
        line = str(change.validate)
        assert 'sshd -T -f "$copy"/sshd_config -C' in line
        assert "'permitrootlogin no'" in line and "'port 2222'" in line
        assert "'kexalgorithms mlkem768x25519-sha256," in line


def test_host_keys_are_ed25519_and_rsa_of_3072_bits_or_more_only():
    text = drop_in(KEX_92)
    assert "HostKey /etc/ssh/ssh_host_rsa_key" in text and "ecdsa" not in text
    assert "HostKeyAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256\n" in text
    small = drop_in(KEX_92, rsa_bits=2048)
    assert "ssh_host_rsa_key" not in small and "HostKeyAlgorithms ssh-ed25519\n" in small


def kexinit(kex: str, hostkey: str, cipher: str, mac: str) -> bytes:
    lists = [kex, hostkey, cipher, cipher, mac, mac, "none", "none", "", ""]
    body = bytes([20]) + bytes(16)
    for item in lists:
        body += len(item).to_bytes(4, "big") + item.encode()
    return body + bytes(5)


CHOSEN = {
    "kex": ["curve25519-sha256"],
    "cipher": ["aes256-gcm@openssh.com"],
    "mac": ["hmac-sha2-256-etm@openssh.com"],
}


def test_the_check_passes_when_sshd_offers_what_was_chosen():
    offered = parse_kexinit(
        kexinit(
            "curve25519-sha256,ext-info-s,kex-strict-s-v00@openssh.com",
            "rsa-sha2-512,rsa-sha2-256,ssh-ed25519",
            "aes256-gcm@openssh.com",
            "hmac-sha2-256-etm@openssh.com",
        )
    )
    result = judge_algorithms(offered, CHOSEN, 3072, "SSH-2.0-OpenSSH_9.2p1")
    assert result.status == "ok", result
    debian = judge_algorithms(offered, CHOSEN, 3072, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10")
    assert debian.status == "fail" and "names the system (Debian-2+deb12u10)" in debian.summary
    assert "DebianBanner no" in debian.hint


def test_the_check_names_an_ecdsa_host_key_a_small_rsa_key_and_extra_algorithms():
    offered = parse_kexinit(
        kexinit(
            "curve25519-sha256,ecdh-sha2-nistp256",
            "ecdsa-sha2-nistp256,ssh-ed25519,rsa-sha2-512",
            "aes256-gcm@openssh.com,aes128-cbc",
            "hmac-sha2-256-etm@openssh.com",
        )
    )
    result = judge_algorithms(offered, CHOSEN, 2048)
    assert result.status == "fail"
    for word in ("ecdh-sha2-nistp256", "ecdsa-sha2-nistp256", "aes128-cbc", "2048 bits"):
        assert word in result.summary
    assert "ssh-hardening" in result.hint


def test_a_packet_that_is_not_a_kexinit_is_refused():
    with pytest.raises(ValueError):
        parse_kexinit(b"\x05" + bytes(40))
    with pytest.raises(ValueError):
        parse_kexinit(bytes([20]) + bytes(16) + (50).to_bytes(4, "big") + b"short")
