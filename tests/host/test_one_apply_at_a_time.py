"""One apply at a time per server: a second wizard is told who holds the server, and recovery
leaves alone a run whose owner is alive (an apply under way, a guard waiting for its proof)."""

from __future__ import annotations

import json

import pytest

from tests.host.harness import apply_ok
from tests.host.test_safety import QUICK, run_status, server_file, wait_for
from wizard.apply import apply_plan
from wizard.errors import WizardError
from wizard.journal import new_run_id

pytestmark = pytest.mark.host
TWEAK = "/etc/ssh/sshd_config.d/30-test-tweak.conf"


@pytest.fixture
def two_laptops(fresh_testhost, wizard_factory):
    """A fresh host with base and admin-user applied from laptop one; laptop two trusts it."""
    one, two = wizard_factory(fresh_testhost), wizard_factory(fresh_testhost)
    one.trust_host()
    two.trust_host()
    apply_ok(one, f"root@{fresh_testhost.address}", ["base", "admin-user"], QUICK)
    return one, two


def test_a_second_apply_waits_for_the_first_and_refuses_what_it_did_not_review(two_laptops):
    one, two = two_laptops
    target = f"root@{one.host.address}"
    apply_ok(one, target, ["slow-write"], QUICK)
    # Laptop two reviews its change while the files still say "first".
    session = two.session("root", extra_steps=True)
    try:
        plan = session.plan("slow-write", {"text": "third"})
        answers = one.home / "second.toml"
        answers.write_text('[slow-write]\ntext = "second"\n')
        running = one.popen("apply", target, "--answers", str(answers), "--yes")
        assert wait_for(lambda: run_status(one) == "writing", timeout=30)
        events: list[str] = []
        with pytest.raises(WizardError) as refused:
            session.apply(plan, on_event=events.append)
    finally:
        session.close()
    output, _ = running.communicate(timeout=120)
    assert running.returncode == 0, output
    # Two was told who held the server, waited for it, then found the files no longer
    # those it had reviewed: nothing of its plan was applied.
    waiting = [e for e in events if e.startswith("waiting: another wizard is applying")]
    assert waiting, events
    assert "step slow-write" in waiting[0] and "from 10.254." in waiting[0], waiting
    assert "changed on the server since the plan was made" in refused.value.message
    for name in "abc":
        assert server_file(one, f"/etc/vps-wizard-test/{name}.conf") == "word = second\n"
    # Reviewed again, it applies.
    again = two.session("root", extra_steps=True)
    try:
        again.apply(again.plan("slow-write", {"text": "third"}))
    finally:
        again.close()
    assert server_file(one, "/etc/vps-wizard-test/a.conf") == "word = third\n"


def test_a_run_waiting_for_its_guard_belongs_to_its_wizard(two_laptops):
    one, two = two_laptops
    session = one.session("root", extra_steps=True)
    try:
        plan = session.plan("guarded-tweak")
        outcome = apply_plan(session.remote, plan, new_run_id(), 60, lambda _line: None)
        assert outcome.status == "awaiting-confirm"
        # Laptop two looks at the server (read-only) and tries to apply meanwhile.
        status = two.cli("status", one.host.address, "--json")
        assert status.returncode == 0, status.stderr
        assert "still under way on the server (awaiting-confirm)" in status.stderr
        assert run_status(one) == "awaiting-confirm"
        assert server_file(one, TWEAK) == "MaxSessions 7\n"
        # One apply at a time per server, whatever the step.
        refused = two.cli(
            "apply",
            f"root@{one.host.address}",
            "--step",
            "slow-write",
            "--answers",
            str(QUICK),
            "--yes",
        )
        assert refused.returncode == 1
        assert "waits for its confirmation" in refused.stderr
        assert outcome.run_id in refused.stderr
        # Its own wizard still confirms it: nobody reverted it behind its back.
        confirmed = session._confirm(plan, outcome, lambda _line: None)
        assert confirmed.status == "done", confirmed.failure
        assert run_status(one) == "done"
        assert server_file(one, TWEAK) == "MaxSessions 7\n"
    finally:
        session.close()
    history = json.loads(two.cli("status", one.host.address, "--json").stdout)
    assert history["steps"]


def test_a_lock_whose_owner_is_gone_does_not_block(two_laptops):
    one, two = two_laptops
    # A stale lock naming a run that ended (or never was) holds nothing.
    one.host.exec(
        "printf '%s\\n' 20200101T000000Z-dead00 10.0.0.9 ghost 2020-01-01 base "
        "> /var/lib/vps-wizard/apply.lock"
    )
    session = two.session("root", extra_steps=True)
    try:
        plan = session.plan("slow-write", {"text": "fourth"})
        try:
            session.apply(plan)
        except WizardError as error:  # pragma: no cover - the assertion says why
            pytest.fail(f"a dead lock blocked the apply: {error}")
    finally:
        session.close()
    assert server_file(one, "/etc/vps-wizard-test/a.conf") == "word = fourth\n"
