"""The waf step on a real Debian 12 host with nginx: ModSecurity and the OWASP Core Rule Set of
the distribution in front of the vhost step's site. In the TUI first, with its defaults:
detection only, where the attacks get 200 and the check says it would have blocked them; then
headless with blocking, every check ok, an SQL injection and a path traversal answered 403 from
outside and recorded in the audit log, a second apply with nothing to change. Each check is
shown failing on the host broken by hand; a rule exclusion lets its attack through; a rule file
that does not load is refused before nginx takes it."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.fixtures import FRESH_SLOTS, boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from tests.host.pilot import make_app, overview_ready, run_step, select_step, wait_until
from wizard.probes.http import HttpAnswer, http_get
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
RULES = "/etc/nginx/vps-wizard/modsecurity.conf"
AUDIT_LOG = "/var/log/modsecurity/audit.log"
# Debian's file for your own rules ahead of the Core Rule Set: the rules file includes it.
BEFORE_CRS = "/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
SQL_INJECTION = "/?id=1%27%20OR%20%271%27%3D%271"
PATH_TRAVERSAL = "/?file=../../../../etc/passwd"
# nginx's reload returns while the old workers still answer: wait (5 s at most) for them to go.
RELOAD = (
    "old=$(pgrep -d ' ' -P \"$(cat /run/nginx.pid)\"); nginx -t -q && systemctl reload nginx && "
    "for i in $(seq 50); do alive=0; for p in $old; do kill -0 $p 2>/dev/null && alive=1; done; "
    '[ "$alive" = 0 ] && break; sleep 0.1; done'
)
SITE = f"""
[base]
fqdn = "test.example.net"
timezone = "UTC"
upgrade = false

[web]
server = "nginx"

[vhost]
domain = "{DOMAIN}"
canonical = "bare"
"""
WAF = """
[waf]
mode = "{mode}"
paranoia = 1
threshold = 5
exclusions = [{exclusions}]
"""


@dataclass
class WafHost:
    """The module's host with base, web and vhost applied, and its laptop."""

    wizard: Wizard
    home: Path

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host

    def answers(self, mode: str = "blocking", exclusions: str = "") -> Path:
        """An answers file for the site and the waf step."""
        path = self.home / f"answers-{mode}-{exclusions or 'none'}.toml"
        path.write_text(SITE + WAF.format(mode=mode, exclusions=exclusions))
        return path

    def apply(self, mode: str = "blocking", exclusions: str = "") -> str:
        """Apply the waf step through the CLI with these answers."""
        return apply_ok(self.wizard, self.host.address, ["waf"], self.answers(mode, exclusions))

    def get(self, path: str) -> HttpAnswer:
        """GET the site's path from outside (the Host header, no DNS)."""
        return http_get(self.host.address, DOMAIN, path)

    def reload(self, *commands: str) -> None:
        """Run the hand edits and have nginx take them, once its old workers (which answer a
        little after the reload returns) are gone."""
        for command in commands:
            self.host.exec(command)
        self.host.exec(RELOAD)

    def wait_for(self, path: str, status: int, seconds: float = 5.0) -> None:
        """Wait until GET path answers `status` (the new workers took over)."""
        deadline = time.monotonic() + seconds
        while (got := self.get(path).status) != status and time.monotonic() < deadline:
            time.sleep(0.1)
        assert got == status, f"{path}: HTTP {got}, not {status}"


@pytest.fixture(scope="module")
def waf_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WafHost]:
    """Base (no upgrade), web (nginx) and vhost, applied headless."""
    testhost = boot_free("vwz", FRESH_SLOTS)
    try:
        home = tmp_path_factory.mktemp("waf-laptop")
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        site = home / "site.toml"
        site.write_text(SITE)
        apply_ok(wizard, f"root@{testhost.address}", ["base", "web", "vhost"], site)
        yield WafHost(wizard, home)
    finally:
        testhost.stop()


async def test_tui_applies_detection_only_first_and_the_check_says_it_would_block(waf_host):
    # The form's defaults: detection only, paranoia 1, threshold 5, no exclusion.
    app = make_app(waf_host.wizard, "root")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 30)
        await select_step(pilot, app, "waf")
        await run_step(pilot, app, "waf", {})
        status = app.screen.statuses["waf"].record.status
        await pilot.press("q")
    assert status == "verified", status
    assert "SecRuleEngine DetectionOnly" in waf_host.host.exec(f"cat {RULES}").stdout
    # Nothing is blocked: the attacks get the page; the checks say what would have happened.
    assert waf_host.get(SQL_INJECTION).status == 200
    assert waf_host.get(PATH_TRAVERSAL).status == 200
    results = checks(waf_host.wizard, "waf")
    blocks = results["waf.blocks"]
    assert blocks["status"] == "warn", blocks
    assert "detection only: would have blocked" in blocks["summary"]
    assert "HTTP 200" in blocks["evidence"] and "rule 949110" in blocks["evidence"]
    assert results["waf.passes"]["status"] == "ok", results["waf.passes"]
    audit = results["waf.audit_log"]
    assert audit["status"] == "ok" and "would have been blocked" in audit["summary"], audit


def test_blocking_every_check_ok_attacks_403_and_recorded(waf_host):
    waf_host.apply("blocking")
    results = checks(waf_host.wizard, "web", "vhost", "waf")
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    assert {"waf.blocks", "waf.passes", "waf.audit_log"} <= set(results)
    assert waf_host.get(SQL_INJECTION).status == 403
    assert waf_host.get(PATH_TRAVERSAL).status == 403
    assert waf_host.get("/").status == 200
    assert "rule 942100" in results["waf.blocks"]["evidence"]
    assert "rule 930120" in results["waf.audit_log"]["evidence"]
    # The audit log is root's and adm's, and holds the check's request.
    log = waf_host.host.exec(f"stat -c '%a %U %G' {AUDIT_LOG}; grep -c vwcheck= {AUDIT_LOG}")
    mode, count = log.stdout.strip().splitlines()
    assert mode == "640 root adm" and int(count) >= 3, log.stdout


def test_a_second_apply_changes_nothing(waf_host):
    assert "== waf: nothing to change" in waf_host.apply("blocking")


def test_the_engine_off_by_hand_fails_the_403_and_audit_checks_until_applied_again(waf_host):
    waf_host.reload(f"sed -i 's/^SecRuleEngine On/SecRuleEngine Off/' {RULES}")
    assert waf_host.get(SQL_INJECTION).status == 200
    results = checks(waf_host.wizard, "waf")
    assert_fails(results["waf.blocks"], "an SQL injection got HTTP 200, not 403", "did not see")
    assert_fails(results["waf.audit_log"], "does not record the attack", "vwcheck=")
    assert results["waf.passes"]["status"] == "ok"
    waf_host.apply("blocking")
    waf_host.wait_for(SQL_INJECTION, 403)


def test_the_audit_log_off_by_hand_fails_its_check_alone(waf_host):
    waf_host.host.exec(f"cp {RULES} /root/rules.conf")
    waf_host.reload(f"sed -i 's/^SecAuditEngine RelevantOnly/SecAuditEngine Off/' {RULES}")
    results = checks(waf_host.wizard, "waf")
    assert results["waf.blocks"]["status"] == "ok", results["waf.blocks"]
    assert_fails(results["waf.audit_log"], "does not record the attack", "SecAuditEngine")
    waf_host.reload(f"cp /root/rules.conf {RULES}")


def test_a_rule_that_blocks_the_form_is_a_false_positive(waf_host):
    # A rule of one's own that takes the contact form's French for an attack.
    rule = (
        'SecRule ARGS:message "@contains Bonjour" '
        "\"id:10001,phase:2,deny,status:403,log,msg:'false positive'\""
    )
    waf_host.host.exec(f"cp {BEFORE_CRS} /root/before-crs.conf")
    form = f"printf '%s\\n' {shlex.quote(rule)} >> {BEFORE_CRS}"
    waf_host.reload(form)
    try:
        passes = checks(waf_host.wizard, "waf")["waf.passes"]
        assert_fails(passes, "the form post got 403", "false positive", "exclusions")
        assert "POST http://example.net/vw-waf-" in passes["evidence"]
    finally:
        waf_host.reload(f"cp /root/before-crs.conf {BEFORE_CRS}")


def test_a_rule_file_that_does_not_load_is_refused_before_nginx_takes_it(waf_host):
    waf_host.host.exec(f"cp {BEFORE_CRS} /root/before-crs.conf")
    waf_host.host.exec(f"echo 'SecNoSuchDirective on' >> {BEFORE_CRS}")
    try:
        args = ["apply", waf_host.host.address, "--answers", str(waf_host.answers("detection"))]
        refused = waf_host.wizard.cli(*args, "--step", "waf", "--yes")
        assert refused.returncode != 0, refused.stdout
        assert f"validation of {RULES} failed" in refused.stdout + refused.stderr
        # Nothing changed: still blocking.
        assert "SecRuleEngine On" in waf_host.host.exec(f"cat {RULES}").stdout
        assert waf_host.get(SQL_INJECTION).status == 403
    finally:
        waf_host.host.exec(f"cp /root/before-crs.conf {BEFORE_CRS}")


def test_an_exclusion_removes_the_block_of_its_rule_only(waf_host):
    # The apply itself runs the checks: waf.blocks fails, naming the rule removed.
    answers = str(waf_host.answers("blocking", "942100"))
    run = waf_host.wizard.cli(
        "apply", waf_host.host.address, "--answers", answers, "--step", "waf", "--yes"
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "+SecRuleRemoveById 942100" in run.stdout
    assert "✘ waf.blocks: an SQL injection got HTTP 200, not 403" in run.stdout
    assert "the step removes 942100" in run.stdout
    assert "✔ waf.audit_log" in run.stdout and "✔ waf.passes" in run.stdout
    assert waf_host.get(SQL_INJECTION).status == 200
    assert waf_host.get(PATH_TRAVERSAL).status == 403
