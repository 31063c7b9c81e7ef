"""A hand edit that breaks the wizard's sshd drop-in is repaired by the next apply.

sshd reads the drop-ins through sshd_config's Include, so a validation that runs `sshd -t` on
the live configuration reads the broken live file and refuses every repair. The step checks a
copy of /etc/ssh with the new drop-in in place of the live one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.host.harness import apply_ok

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DROP_IN = "/etc/ssh/sshd_config.d/00-vps-wizard.conf"


def test_a_drop_in_broken_by_hand_is_repaired_by_the_next_apply(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    host = fresh_testhost
    apply_ok(wizard, f"root@{host.address}", ["base", "admin-user", "ssh-hardening"], QUICK)
    applied = host.exec(f"cat {DROP_IN}").stdout

    host.exec(f"echo 'ThisIsNotAnSshdDirective yes' >> {DROP_IN}")
    assert host.exec("sshd -t", check=False).returncode != 0, "the hand edit should break sshd"

    apply_ok(wizard, host.address, ["ssh-hardening"], QUICK)
    assert host.exec(f"cat {DROP_IN}").stdout == applied
    assert host.exec("sshd -t", check=False).returncode == 0
    # The throw-away copy of /etc/ssh (host keys included) is gone.
    leftovers = host.exec(
        "find /tmp /var/tmp -name sshd_config -not -path /etc/ssh/sshd_config", check=False
    )
    assert leftovers.stdout == ""
    verify = wizard.cli("verify", host.address, "--step", "ssh-hardening")
    assert verify.returncode == 0, verify.stdout + verify.stderr
