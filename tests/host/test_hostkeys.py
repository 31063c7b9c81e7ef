"""Strict host keys: a new key is shown and asked, a changed one refused, nothing added silently."""

from __future__ import annotations

import base64
import hashlib

import pytest

from wizard.errors import HostKeyChanged, UnknownHostKey

pytestmark = pytest.mark.host

OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBN6dvBrwn0zCr9ZGBUzw9BHHcwbOr3pfnpaJlJqf2J"


def sha256_fingerprint(openssh_key: str) -> str:
    """The fingerprint as `ssh-keygen -lf` prints it, computed independently of the wizard."""
    blob = base64.b64decode(openssh_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def test_unknown_key_is_shown_and_not_added(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    testhost = fresh_testhost
    with pytest.raises(UnknownHostKey) as raised:
        wizard.session("root")
    assert raised.value.fingerprint == sha256_fingerprint(testhost.host_key)
    assert raised.value.key_type == "ssh-ed25519"
    assert not wizard.known_hosts.exists()


def test_unattended_run_refuses_an_unknown_key(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    testhost = fresh_testhost
    result = wizard.cli("status", f"root@{testhost.address}", "--yes")
    assert result.returncode == 1
    assert sha256_fingerprint(testhost.host_key) in result.stderr
    assert "--accept-host-key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not wizard.known_hosts.exists()


def test_confirmed_fingerprint_is_trusted_and_recorded(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    testhost = fresh_testhost
    fingerprint = sha256_fingerprint(testhost.host_key)
    with pytest.raises(UnknownHostKey):
        wizard.session("root", accept_fingerprint="SHA256:not-the-right-one")
    assert not wizard.known_hosts.exists()
    session = wizard.session("root", accept_fingerprint=fingerprint)
    session.close()
    assert testhost.host_key.split()[1] in wizard.known_hosts.read_text()
    # Next time no question: the key is known.
    wizard.session("root").close()


def test_changed_key_is_refused_with_a_clear_error(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    testhost = fresh_testhost
    wizard.known_hosts.write_text(f"{testhost.address} {OTHER_KEY}\n")
    with pytest.raises(HostKeyChanged) as raised:
        wizard.session("root", accept_fingerprint=sha256_fingerprint(testhost.host_key))
    assert "CHANGED" in raised.value.message
    assert "ssh-keygen -R" in raised.value.hint
    result = wizard.cli("status", f"root@{testhost.address}")
    assert result.returncode == 1
    assert "has CHANGED" in result.stderr and "Traceback" not in result.stderr
    assert wizard.known_hosts.read_text() == f"{testhost.address} {OTHER_KEY}\n"
