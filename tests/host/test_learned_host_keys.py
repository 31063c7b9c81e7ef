"""A laptop that knows the server only by its ECDSA host key (an older OpenSSH recorded that
one) applies ssh-hardening, which stops offering ECDSA: the guard's confirming session must
still get in, so the step is kept, not undone. The wizard learns the server's ed25519 and RSA
keys over the session it already verified, as OpenSSH's UpdateHostKeys does."""

from __future__ import annotations

import pytest

from tests.host.harness import Wizard
from tests.host.test_answers_file import FIRST_STEPS

pytestmark = pytest.mark.host
ANSWERS = FIRST_STEPS + "\n[ssh-hardening]\n"


def test_ssh_hardening_is_kept_when_the_laptop_knew_only_the_ecdsa_key(
    fresh_testhost, wizard_factory, tmp_path
):
    host = fresh_testhost
    wizard: Wizard = wizard_factory(host)
    ecdsa = host.exec("cat /etc/ssh/ssh_host_ecdsa_key.pub").stdout.split()
    wizard.known_hosts.write_text(f"{host.address} {ecdsa[0]} {ecdsa[1]}\n")
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS)

    done = wizard.cli("apply", f"root@{host.address}", "--answers", str(answers), "--yes")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "confirmed from a new session" in done.stdout, done.stdout[-3000:]
    assert "reverting" not in done.stdout
    ed25519 = host.exec("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
    assert f"{host.address} ssh-ed25519 {ed25519[1]}" in wizard.known_hosts.read_text()
    # sshd offers no ECDSA host key any more, and the admin gets in with what was learned.
    assert "ecdsa" not in host.exec("sshd -T | grep -i '^hostkeyalgorithms'").stdout
    status = wizard.cli("status", f"admin@{host.address}", "--json")
    assert status.returncode == 0, status.stderr
