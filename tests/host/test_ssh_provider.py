"""ssh-hardening on a provider-shaped host, on Debian 12, Debian 13 and Ubuntu 24.04.

The image ships a drop-in read before the wizard's (root and passwords on, an ECDSA host
key), a PasswordAuthentication line above sshd_config's Include and Match blocks turning them
back on. The plan shows each of those lines by file and line and comments them out; the apply
is refused before sshd restarts while a file the plan cannot see still overrides a setting; once
applied, root and passwords are refused from outside, and sshd offers only ed25519 and RSA
(3072 bits) host keys and the key exchange, ciphers and MACs chosen for its OpenSSH.
"""

from __future__ import annotations

import pytest

from tests.host.acme import QUICK
from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from wizard.sshdconfig import MARKER
from wizard.testhost.image import DEBIAN12, DEBIAN13, UBUNTU2404

pytestmark = pytest.mark.host

PROVIDER = "/etc/ssh/sshd_config.d/00-provider.conf"
DROP_IN = "/etc/ssh/sshd_config.d/00-vps-wizard.conf"
EXTRA = "/etc/ssh/provider-extra.conf"
PROVIDER_TEXT = (
    "# shipped by the provider's image\n"
    "PermitRootLogin yes\n"
    "PasswordAuthentication yes\n"
    "HostKey /etc/ssh/ssh_host_rsa_key\n"
    "HostKey /etc/ssh/ssh_host_ecdsa_key\n"
    "HostKey /etc/ssh/ssh_host_ed25519_key\n"
)
MATCH_BLOCKS = (
    "Match User root\n  PermitRootLogin yes\nMatch Address *\n  PasswordAuthentication yes\n"
)
RELOAD = "systemctl try-reload-or-restart ssh.service; true"
SSH_CHECKS = (
    "ssh.effective_config",
    "ssh.algorithms",
    "ssh.root_refused",
    "ssh.password_refused",
    "ssh.login",
)


def shape_like_a_provider(host) -> None:
    """What a VPS image ships: sshd lets root and passwords in whatever the drop-in says."""
    host.exec(f"cat > {PROVIDER}", input=PROVIDER_TEXT)
    host.exec("sed -i '1i PasswordAuthentication yes' /etc/ssh/sshd_config")
    host.exec("cat >> /etc/ssh/sshd_config", input=MATCH_BLOCKS)
    host.exec(RELOAD)


@pytest.mark.parametrize("distro", [DEBIAN12, DEBIAN13, UBUNTU2404], ids=lambda distro: distro.name)
def test_a_provider_shaped_host_is_hardened_whatever_it_shipped(distro, tmp_path):
    host = boot_free("vwp", range(128, 144), distro)
    try:
        wizard = Wizard(host, tmp_path)
        wizard.trust_host()
        shape_like_a_provider(host)
        apply_ok(wizard, f"root@{host.address}", ["base", "admin-user"], QUICK)

        # A file the facts do not read (an Include of its own, above the drop-ins) still lets
        # root in: sshd -T on the staged files says so and the apply stops before sshd restarts.
        host.exec(f"echo 'PermitRootLogin yes' > {EXTRA}")
        host.exec(f"sed -i '1i Include {EXTRA}' /etc/ssh/sshd_config")
        refused = wizard.cli(
            "apply", host.address, "--answers", str(QUICK), "--yes", "--step", "ssh-hardening"
        )
        assert refused.returncode != 0, refused.stdout
        assert "permitrootlogin no" in refused.stdout + refused.stderr
        assert host.exec(f"test -e {DROP_IN}", check=False).returncode != 0
        assert host.exec(f"cat {PROVIDER}").stdout == PROVIDER_TEXT
        host.exec(f"sed -i '\\#^Include {EXTRA}#d' /etc/ssh/sshd_config")

        plan = wizard.cli("plan", host.address, "--answers", str(QUICK), "--step", "ssh-hardening")
        assert plan.returncode == 2, plan.stdout + plan.stderr
        for line in (
            f"{PROVIDER}:2: PermitRootLogin yes",
            f"{PROVIDER}:3: PasswordAuthentication yes",
            f"{PROVIDER}:5: HostKey /etc/ssh/ssh_host_ecdsa_key",
            "/etc/ssh/sshd_config:1: PasswordAuthentication yes",
            f"+{MARKER}PermitRootLogin yes",
        ):
            assert line in plan.stdout, (line, plan.stdout)

        apply_ok(wizard, host.address, ["ssh-hardening"], QUICK)
        provider = host.exec(f"cat {PROVIDER}").stdout
        assert f"{MARKER}PermitRootLogin yes\n" in provider
        assert f"{MARKER}HostKey /etc/ssh/ssh_host_ecdsa_key\n" in provider
        main = host.exec("cat /etc/ssh/sshd_config").stdout
        assert f"{MARKER}PasswordAuthentication yes\n" in main
        assert f"Match User root\n{MARKER}PermitRootLogin yes\n" in main
        # Root-only, as the base step left it.
        assert host.exec("stat -c %a /etc/ssh/sshd_config").stdout.strip() == "600"
        results = checks(wizard, "ssh-hardening")
        for cid in SSH_CHECKS:
            assert results[cid]["status"] == "ok", results[cid]
        offered = results["ssh.algorithms"]["evidence"]
        assert "ecdsa" not in offered and "nistp" not in offered, offered
        assert "hostkey: ssh-ed25519, rsa-sha2-512, rsa-sha2-256\n" in offered, offered
        assert "RSA host key: 3072 bits" in offered or "RSA host key: 4096 bits" in offered
        # Post-quantum hybrids first: ML-KEM where OpenSSH (10.0) and paramiko both have it,
        # else Streamlined NTRU Prime (OpenSSH 9.x; the wizard falls back to curve25519).
        kex = offered.split("kex: ", 1)[1].split("\n", 1)[0].split(", ")
        hybrid = "mlkem768x25519-sha256" if distro is DEBIAN13 else "sntrup761x25519-sha512"
        assert kex[0].startswith(hybrid), kex
        assert "curve25519-sha256@libssh.org" in kex, kex

        # Broken by hand again: the provider's file back, with ECDH on NIST P-256 and the
        # ECDSA host key offered, as the step's earlier drop-in did.
        host.exec(
            f"cat > {PROVIDER}",
            input=PROVIDER_TEXT
            + "KexAlgorithms curve25519-sha256,ecdh-sha2-nistp256\n"
            + "HostKeyAlgorithms ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512\n",
        )
        host.exec(RELOAD)
        broken = checks(wizard, "ssh-hardening")
        assert_fails(broken["ssh.root_refused"], "root can log in")
        assert_fails(broken["ssh.algorithms"], "ecdsa-sha2-nistp256", "ecdh-sha2-nistp256")
        assert_fails(broken["ssh.effective_config"], "permitrootlogin yes")

        apply_ok(wizard, host.address, ["ssh-hardening"], QUICK)
        repaired = checks(wizard, "ssh-hardening")
        for cid in SSH_CHECKS:
            assert repaired[cid]["status"] == "ok", repaired[cid]
    finally:
        host.stop()
