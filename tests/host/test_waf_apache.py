"""The waf step with Apache on a real Debian 12 host: mod_security2 with the distribution's Core
Rule Set, the shared settings in /etc/modsecurity/vps-wizard.conf (read by Debian's
security2.conf before the rule set) and the engine in the site's virtual hosts. Blocking from
the first apply, every check ok, a second apply with nothing to change; the engine turned off in
the site by hand fails the 403 and audit log checks; detection only is a warning."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.fixtures import FRESH_SLOTS, boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from wizard.probes.http import http_get

pytestmark = pytest.mark.host
DOMAIN = "example.net"
SITE_WAF = f"/etc/apache2/vps-wizard/vhost-{DOMAIN}-http-waf.conf"
SQL_INJECTION = "/?id=1%27%20OR%20%271%27%3D%271"
PATH_TRAVERSAL = "/?file=../../../../etc/passwd"
ANSWERS = f"""
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false

[web]
server = "apache"

[vhost]
domain = "{DOMAIN}"
canonical = "bare"

[waf]
mode = "{{mode}}"
"""


def status_of(wizard: Wizard, path: str) -> int:
    """The site's answer to GET path, from outside."""
    return http_get(wizard.host.address, DOMAIN, path).status


def wait_for(wizard: Wizard, path: str, status: int, seconds: float = 5.0) -> None:
    """Wait until the site answers `status` (Apache's old children finish after a reload)."""
    deadline = time.monotonic() + seconds
    while (got := status_of(wizard, path)) != status and time.monotonic() < deadline:
        time.sleep(0.1)
    assert got == status, f"{path}: HTTP {got}, not {status}"


@pytest.fixture(scope="module")
def apache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Wizard, Path]]:
    """Base (no upgrade), web with Apache, vhost and waf (blocking), in one apply."""
    testhost = boot_free("vwy", FRESH_SLOTS)
    try:
        home = tmp_path_factory.mktemp("waf-apache-laptop")
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = home / "answers.toml"
        answers.write_text(ANSWERS.format(mode="blocking"))
        steps = ["base", "web", "vhost", "waf"]
        apply_ok(wizard, f"root@{testhost.address}", steps, answers)
        yield wizard, answers
    finally:
        testhost.stop()


def test_apache_blocks_every_check_ok_and_a_second_apply_changes_nothing(apache):
    wizard, answers = apache
    results = checks(wizard, "web", "vhost", "waf")
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    assert {"waf.blocks", "waf.passes", "waf.audit_log"} <= set(results)
    assert status_of(wizard, SQL_INJECTION) == 403
    assert status_of(wizard, PATH_TRAVERSAL) == 403
    assert status_of(wizard, "/") == 200
    assert "SecRuleEngine On" in wizard.host.exec(f"cat {SITE_WAF}").stdout
    again = apply_ok(wizard, wizard.host.address, ["waf"], answers)
    assert "== waf: nothing to change" in again, again


def test_apache_engine_off_in_the_site_fails_and_detection_only_warns(apache):
    wizard, answers = apache
    wizard.host.exec(f"sed -i 's/^SecRuleEngine On/SecRuleEngine Off/' {SITE_WAF}")
    wizard.host.exec("apache2ctl -t && systemctl reload apache2")
    wait_for(wizard, SQL_INJECTION, 200)
    results = checks(wizard, "waf")
    assert_fails(results["waf.blocks"], "an SQL injection got HTTP 200, not 403", "did not see")
    assert_fails(results["waf.audit_log"], "does not record the attack")
    # Detection only, answered: the step passes with a warning, nothing blocked.
    detection = answers.parent / "detection.toml"
    detection.write_text(ANSWERS.format(mode="detection"))
    output = apply_ok(wizard, wizard.host.address, ["waf"], detection)
    assert "! waf.blocks: detection only: would have blocked" in output, output
    assert "SecRuleEngine DetectionOnly" in wizard.host.exec(f"cat {SITE_WAF}").stdout
    wait_for(wizard, PATH_TRAVERSAL, 200)
