"""Resume trusts the server, not the laptop's memory (issue 14).

A provider's reinstall at the same address (the machine booted again pristine, with the
image's host key or with new keys the user accepted) after base and admin-user were applied:
`status`, `plan` and the engine's Session say the server looks reinstalled or reset and show
nothing applied or verified; --start-over archives the old record (never deleted). Two servers
behind one address on two ports keep two records, and a user given as `user@HOST` is the one
used, whatever the record's admin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.host.harness import Wizard, apply_ok
from wizard.errors import ConnectionFailed
from wizard.state import APPLIED, StateStore
from wizard.testhost.machine import TestHost, boot
from wizard.testhost.relay import DelayRelay

QUICK = Path(__file__).parent / "quick.toml"
SAID = "the server looks reinstalled or reset"
CLAIMED = ("applied", "verified", "drifted", "failed-verify", "outdated")


@pytest.fixture
def reinstall() -> Iterator[Callable[[Wizard, bool], TestHost]]:
    """Boot a laptop's machine again pristine at the same address (a provider's reinstall),
    with new host keys when asked; the laptop's known_hosts and record stay as they were."""
    booted: list[TestHost] = []

    def again(wizard: Wizard, new_keys: bool) -> TestHost:
        old = wizard.host
        index = int(old.address.split(".")[2])
        old.stop()
        fresh = boot(name=old.name, subnet_index=index)
        booted.append(fresh)
        assert fresh.address == old.address
        if new_keys:
            new_host_keys(fresh)
        wizard.host = fresh
        return fresh

    try:
        yield again
    finally:
        for host in booted:
            host.stop()


def new_host_keys(host: TestHost) -> None:
    """New SSH host keys, as a reinstall makes."""
    host.exec("rm -f /etc/ssh/ssh_host_*; ssh-keygen -A; systemctl restart ssh")
    host.wait_for_ssh()


def statuses(wizard: Wizard, *args: str) -> dict[str, dict]:
    """status --json through the CLI: {step: row}."""
    result = wizard.cli("status", *args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return {row["step"]: row for row in json.loads(result.stdout)["steps"]}


def applied_base_and_admin(wizard: Wizard) -> None:
    wizard.trust_host()
    apply_ok(wizard, f"root@{wizard.host.address}", ["base", "admin-user"], QUICK)
    before = wizard.cli("status", wizard.host.address)
    assert before.returncode == 0, before.stderr
    # Verified always with the time of the check that verified it.
    assert re.search(r"base +verified \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", before.stdout)
    assert re.search(r"admin-user +verified \(", before.stdout)


def assert_reinstall_said_and_nothing_claimed(wizard: Wizard, *extra: str) -> None:
    address = wizard.host.address
    text = wizard.cli("status", address, *extra)
    assert text.returncode == 0, text.stdout + text.stderr
    assert SAID in text.stderr
    assert "--start-over" in text.stderr
    assert f"vps-wizard verify {address} --step" in text.stderr
    assert "verified" not in text.stdout
    assert re.search(r"base +unconfirmed", text.stdout), text.stdout
    assert re.search(r"admin-user +unconfirmed", text.stdout), text.stdout
    # The record's admin no longer exists: root was used, and said.
    assert "connected as root" in text.stdout
    rows = statuses(wizard, address)
    assert not [s for s, row in rows.items() if row["status"] in CLAIMED], rows
    plan = wizard.cli("plan", address, "--answers", str(QUICK), "--step", "base")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert SAID in plan.stderr
    assert "/etc/hostname" in plan.stdout
    # The engine's own Session, as the TUI opens it.
    session = wizard.session(user=None)
    try:
        assert session.reset is not None
        assert set(session.reset.claimed) == {"base", "admin-user"}
        assert SAID in session.reset.message
        assert not [s.step.id for s in session.overview() if s.record.status in APPLIED]
        assert session.next_step() is not None and session.next_step().id == "base"
    finally:
        session.close()


def assert_start_over_archives(wizard: Wizard, old_statuses: dict[str, str]) -> None:
    address = wizard.host.address
    result = wizard.cli("status", address, "--start-over")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "archived" in result.stderr
    assert re.search(r"base +pending", result.stdout), result.stdout
    again = wizard.cli("status", address)
    assert SAID not in again.stderr
    assert re.search(r"admin-user +pending", again.stdout), again.stdout
    store = StateStore(wizard.state)
    kept = store.archived(address)
    assert kept, "the old record must be archived, not deleted"
    old = {sid: r.status for record in kept for sid, r in record.steps.items()}
    assert {sid: old.get(sid) for sid in old_statuses} == old_statuses
    # Starting over works: base applies and verifies on the pristine server.
    apply_ok(wizard, f"root@{address}", ["base"], QUICK)
    assert statuses(wizard, address)["base"]["status"] == "verified"


def test_a_reinstall_with_the_same_host_key_is_said_and_nothing_claimed(
    fresh_testhost, wizard_factory, reinstall
):
    wizard = wizard_factory(fresh_testhost)
    applied_base_and_admin(wizard)
    reinstall(wizard, False)
    assert_reinstall_said_and_nothing_claimed(wizard)
    # Verifying step by step: what the checks find, never "verified" without the manifest.
    verify = wizard.cli("verify", wizard.host.address, "--step", "base", "--json")
    assert json.loads(verify.stdout)["ok"] is False, verify.stdout
    rows = statuses(wizard, wizard.host.address)
    assert rows["base"]["status"] == "pending", rows["base"]
    assert "apply it again" in rows["base"]["message"]
    assert rows["admin-user"]["status"] == "unconfirmed"
    # The record as verifying left it is what is archived.
    assert_start_over_archives(wizard, {"base": "pending", "admin-user": "unconfirmed"})


def test_a_reinstall_with_a_new_host_key_the_user_accepted_is_said_and_nothing_claimed(
    fresh_testhost, wizard_factory, reinstall
):
    wizard = wizard_factory(fresh_testhost)
    applied_base_and_admin(wizard)
    reinstall(wizard, True)
    address = wizard.host.address
    refused = wizard.cli("status", address)
    assert refused.returncode == 1
    assert "CHANGED" in refused.stderr
    # What the user does after checking with the provider: forget the old key, accept the new.
    wizard.known_hosts.write_text("")
    unknown = wizard.cli("status", address)
    fingerprint = re.search(r"SHA256:[A-Za-z0-9+/]+", unknown.stderr)
    assert fingerprint, unknown.stderr
    assert_reinstall_said_and_nothing_claimed(wizard, "--accept-host-key", fingerprint.group())
    # Nothing was stored while the user had not chosen: the old claims are archived as they were.
    assert_start_over_archives(wizard, {"base": "verified", "admin-user": "verified"})


def test_two_servers_behind_one_address_on_two_ports_keep_two_records(
    testhost_factory, wizard_factory
):
    first, second = testhost_factory(), testhost_factory()
    new_host_keys(second)  # two servers, two identities (the image gives them one)
    key = second.exec("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
    wizard = wizard_factory(first)
    with (
        DelayRelay(first.address, first.port, delay_s=0.0) as one,
        DelayRelay(second.address, second.port, delay_s=0.0) as two,
    ):
        (host, port_one), (_, port_two) = one.start(), two.start()
        wizard.known_hosts.write_text(
            first.known_hosts_entry(host, port_one) + f"\n[{host}]:{port_two} {' '.join(key)}\n"
        )
        # The same root key logs in on both (the test key of each machine differs).
        second.exec(
            "cat >> /root/.ssh/authorized_keys",
            input=Path(str(first.root_key_path) + ".pub").read_text(),
        )
        apply_ok(wizard, f"root@{host}:{port_one}", ["base"], QUICK)
        at_one = statuses(wizard, f"root@{host}:{port_one}")
        at_two = statuses(wizard, f"root@{host}:{port_two}")
        assert at_one["base"]["status"] == "verified"
        assert at_two["base"]["status"] == "pending", at_two["base"]
        assert statuses(wizard, f"root@{host}:{port_one}")["base"]["status"] == "verified"
        store = StateStore(wizard.state)
        one_record = store.reached_at(host, port_one)
        two_record = store.reached_at(host, port_two)
        assert one_record is not None and two_record is not None
        assert one_record.key != two_record.key
        assert one_record.key.startswith("SHA256:") and two_record.key.startswith("SHA256:")


def test_the_user_given_is_the_one_used_not_the_records_admin(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    address = fresh_testhost.address
    apply_ok(wizard, f"root@{address}", ["base", "admin-user", "ssh-hardening"], QUICK)
    # No user given: the record's admin.
    default = wizard.cli("status", address)
    assert default.returncode == 0, default.stderr
    assert "connected as admin" in default.stdout
    # root given: root, refused now that ssh-hardening closed it; the hint names the admin.
    root = wizard.cli("status", f"root@{address}")
    assert root.returncode == 1, root.stdout
    assert f"root@{address} refused the login" in root.stderr
    assert f"admin@{address}" in root.stderr
    with pytest.raises(ConnectionFailed):
        wizard.session(user="root")
    session = wizard.session(user="admin")
    try:
        assert session.remote.user == "admin"
        assert session.reset is None
    finally:
        session.close()
