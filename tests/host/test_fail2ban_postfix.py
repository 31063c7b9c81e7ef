"""The series' postfix-auth jail turns on by itself once Postfix is on the server."""

from __future__ import annotations

import json

import pytest

from tests.host.harness import DAY_ONE_STEPS, apply_ok
from tests.host.test_safety import QUICK

pytestmark = pytest.mark.host


def test_postfix_auth_jail_follows_postfix(fresh_testhost, wizard_factory):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    apply_ok(wizard, f"root@{fresh_testhost.address}", DAY_ONE_STEPS, QUICK)
    assert "postfix-auth" not in fresh_testhost.exec("fail2ban-client status").stdout

    fresh_testhost.exec(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null", timeout=300
    )
    plan = wizard.cli("plan", fresh_testhost.address, "--step", "fail2ban")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "-enabled = false" in plan.stdout and "+enabled = true" in plan.stdout

    apply_ok(wizard, fresh_testhost.address, ["fail2ban"], QUICK)
    assert "postfix-auth" in fresh_testhost.exec("fail2ban-client status").stdout
    verify = wizard.cli("verify", fresh_testhost.address, "--step", "fail2ban", "--json")
    checks = json.loads(verify.stdout)["steps"]["fail2ban"]
    jails = next(c for c in checks if c["check"] == "fail2ban.jails")
    assert jails["status"] == "ok" and "postfix-auth" in jails["summary"]
