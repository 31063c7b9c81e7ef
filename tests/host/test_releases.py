"""Day one on the other releases the steps allow: Debian 13 and Ubuntu 24.04, each booted from
its own image, with the SSH port moved to 2222 (on Ubuntu 24.04 sshd listens through
ssh.socket, which a reload of ssh does not move). Every day-one check ok."""

from __future__ import annotations

import pytest

from tests.host.acme import QUICK
from tests.host.fixtures import boot_free
from tests.host.harness import DAY_ONE_STEPS, Wizard, apply_ok, checks
from wizard.testhost.image import DEBIAN13, UBUNTU2404, Distro

pytestmark = pytest.mark.host


@pytest.mark.parametrize(
    ("distro", "slots"),
    [(DEBIAN13, range(240, 248)), (UBUNTU2404, range(248, 256))],
    ids=lambda value: value.name if isinstance(value, Distro) else "",
)
def test_day_one_with_a_new_ssh_port(distro, slots, tmp_path):
    host = boot_free("vwr", slots, distro)
    try:
        assert distro.title.split()[0] in host.exec("cat /etc/os-release").stdout
        wizard = Wizard(host, tmp_path)
        wizard.trust_host()
        answers = tmp_path / "answers.toml"
        answers.write_text(
            QUICK.read_text().replace("[ssh-hardening]", "[ssh-hardening]\nport = 2222")
        )
        apply_ok(wizard, f"root@{host.address}", DAY_ONE_STEPS, answers)
        results = checks(wizard, *DAY_ONE_STEPS)
        failed = {cid: r for cid, r in results.items() if r["status"] == "fail"}
        assert not failed, failed
        listening = host.exec("ss -ltnH").stdout
        assert ":2222 " in listening and ":22 " not in listening, listening
        if "ssh.socket" in distro.ssh_units:
            assert host.exec("systemctl is-active ssh.socket").stdout.strip() == "active"
    finally:
        host.stop()
