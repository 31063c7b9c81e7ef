"""The web, database and vhost steps end to end on a real Debian 12 host, and every check
failing, with its hint, when the thing it watches is broken by hand."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from wizard.probes.http import HttpAnswer, http_get

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
VHOST_CONF = f"/etc/nginx/conf.d/vhost-{DOMAIN}.conf"
PUBLIC = f"/var/www/{DOMAIN}/public"
WEB_STEPS = ("web", "database", "vhost")
STEP_ARGS = [arg for step in WEB_STEPS for arg in ("--step", step)]
WEB_ANSWERS = f"""
[web]
server = "nginx"

[database]

[vhost]
domain = "{DOMAIN}"
canonical = "bare"
"""


@dataclass
class WebHost:
    """The module's host with everything applied, and what happened on the way there."""

    wizard: Wizard
    answers: Path
    web_apply: dict[str, Any]
    http_before_web: HttpAnswer
    http_after_web: HttpAnswer

    @property
    def address(self) -> str:
        """The host's address."""
        return self.wizard.host.address


@pytest.fixture(scope="module")
def web_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHost]:
    """Day one with the firewall, then web (port 80 still closed), firewall again, the rest."""
    testhost = boot_free("vww", range(48, 64))
    home = tmp_path_factory.mktemp("web-laptop")
    wizard = Wizard(testhost, home)
    wizard.trust_host()
    answers = home / "answers.toml"
    answers.write_text(QUICK.read_text() + WEB_ANSWERS)
    try:
        day_one = ["base", "admin-user", "ssh-hardening", "firewall"]
        apply_ok(wizard, f"root@{testhost.address}", day_one, answers)
        # The firewall was built before web declared 80/tcp: outside HTTP cannot get in yet.
        before = http_get(testhost.address, "test.example.net", "/", timeout=2)
        first = wizard.cli(
            "apply", testhost.address, "--answers", str(answers), "--step", "web", "--yes", "--json"
        )
        assert first.returncode == 0, first.stdout + first.stderr
        after = http_get(testhost.address, "test.example.net", "/")
        apply_ok(wizard, testhost.address, WEB_STEPS, answers)
        yield WebHost(wizard, answers, json.loads(first.stdout), before, after)
    finally:
        testhost.stop()


def test_applying_web_applies_the_firewall_again_to_open_port_80(web_host):
    step = web_host.web_apply["steps"][0]
    assert step["step"] == "web" and step["followups"] == ["firewall"]
    results = {c["check"]: c for c in step["checks"]}
    assert results["web.php"]["status"] == "ok", results
    assert results["firewall.ports"]["status"] == "ok", results
    assert web_host.http_before_web.error == "filtered"
    # Port 80 answers now; the server's own name has no index (Debian's welcome page is gone).
    assert web_host.http_after_web.status == 403, web_host.http_after_web
    assert "Welcome to nginx" not in web_host.http_after_web.text
    rules = web_host.wizard.host.exec("nft list table inet vpswizard").stdout
    assert "80" in rules.split("tcp dport", 1)[1].splitlines()[0]


def test_every_check_of_web_database_and_vhost_is_ok(web_host):
    results = checks(web_host.wizard, *WEB_STEPS)
    assert {r["check"]: r["status"] for r in results.values()} == {
        "web.service": "ok",
        "web.php": "ok",
        "web.default_server": "ok",
        "web.no_welcome": "ok",
        "database.secure": "ok",
        "database.not_exposed": "ok",
        "vhost.serves": "ok",
        "vhost.canonical": "ok",
        "vhost.no_403": "ok",
        "vhost.headers": "ok",
        "vhost.permissions": "ok",
    }
    assert "fpm-fcgi" in results["web.php"]["evidence"]
    assert "OPcache: on" in results["web.php"]["evidence"]
    assert f"Location: http://{DOMAIN}/" in results["vhost.canonical"]["evidence"]
    # The probe page is gone after the check.
    assert web_host.wizard.host.exec("ls /var/www/html").stdout.count("vw-probe") == 0


def test_a_second_apply_changes_nothing(web_host):
    plan = web_host.wizard.cli(
        "plan", web_host.address, "--answers", str(web_host.answers), *STEP_ARGS
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    again = apply_ok(web_host.wizard, web_host.address, WEB_STEPS, web_host.answers)
    for step in WEB_STEPS:
        assert f"== {step}: nothing to change" in again


def test_changing_the_canonical_name_changes_only_the_vhost_file(web_host, tmp_path):
    answers = tmp_path / "www.toml"
    answers.write_text(web_host.answers.read_text().replace('"bare"', '"www"'))
    result = web_host.wizard.cli(
        "plan", web_host.address, "--answers", str(answers), "--json", *STEP_ARGS
    )
    assert result.returncode == 2, result.stderr
    plans = {p["step"]: p for p in json.loads(result.stdout)}
    assert [s for s, p in plans.items() if p["changes"]] == ["vhost"]
    changed = [f for f in plans["vhost"]["files"] if f["status"] != "unchanged"]
    assert [f["path"] for f in changed] == [VHOST_CONF]
    assert f"+\treturn 301 http://www.{DOMAIN}$request_uri;" in changed[0]["diff"]
    assert plans["vhost"]["commands"] == []


def test_mariadb_on_every_address_fails_both_database_checks(web_host):
    host = web_host.wizard.host
    exposed = "/etc/mysql/mariadb.conf.d/99-test-exposed.cnf"
    try:
        host.exec(f"printf '[mysqld]\\nbind-address = 0.0.0.0\\n' > {exposed}")
        host.exec("systemctl restart mariadb")
        # The firewall still drops 3306: listening everywhere is wrong, but not yet exposed.
        results = checks(web_host.wizard, "database")
        assert_fails(results["database.secure"], "0.0.0.0:3306", "bind-address")
        assert results["database.not_exposed"]["status"] == "ok"
        # A hole in the firewall, as an extra port would make: now it answers from outside.
        host.exec("nft insert rule inet vpswizard input tcp dport 3306 accept")
        results = checks(web_host.wizard, "database")
        assert_fails(results["database.secure"], "0.0.0.0:3306", "bind-address")
        assert_fails(results["database.not_exposed"], "3306", "open", "bind-address")
    finally:
        host.exec(f"rm -f {exposed} && systemctl restart mariadb && systemctl restart nftables")
    results = checks(web_host.wizard, "database")
    assert results["database.secure"]["status"] == "ok"
    assert results["database.not_exposed"]["status"] == "ok"


def test_myisam_tables_anonymous_users_and_test_database_are_fixed_by_apply(web_host):
    host = web_host.wizard.host
    host.exec(
        "mariadb -e \"CREATE USER ''@'localhost'; CREATE DATABASE test; CREATE DATABASE shop; "
        'CREATE TABLE shop.orders (id INT) ENGINE=MyISAM"'
    )
    try:
        results = checks(web_host.wizard, "database")
        assert_fails(
            results["database.secure"], "anonymous", "test", "MyISAM", "shop.orders", "convert"
        )
        output = apply_ok(web_host.wizard, web_host.address, ["database"], web_host.answers)
        assert "running: mariadb" in output
        engine = host.exec(
            'mariadb -N -e "SELECT engine FROM information_schema.tables '
            "WHERE table_schema = 'shop' AND table_name = 'orders'\""
        ).stdout.strip()
        assert engine == "InnoDB"
        assert checks(web_host.wizard, "database")["database.secure"]["status"] == "ok"
        again = apply_ok(web_host.wizard, web_host.address, ["database"], web_host.answers)
        assert "== database: nothing to change" in again
    finally:
        host.exec("mariadb -e 'DROP DATABASE IF EXISTS shop'")


def test_stopped_php_fpm_fails_web_php(web_host):
    host = web_host.wizard.host
    try:
        host.exec("systemctl stop php8.2-fpm")
        results = checks(web_host.wizard, "web")
        assert_fails(results["web.php"], "502", "systemctl restart php8.2-fpm")
        assert results["web.service"]["status"] == "ok"
    finally:
        host.exec("systemctl start php8.2-fpm")
    assert checks(web_host.wizard, "web")["web.php"]["status"] == "ok"


def test_a_broken_nginx_configuration_fails_web_service(web_host):
    host = web_host.wizard.host
    broken = "/etc/nginx/conf.d/zz-test-broken.conf"
    try:
        host.exec(f"echo 'this_is_not_a_directive on;' > {broken}")
        results = checks(web_host.wizard, "web")
        assert_fails(results["web.service"], "nginx -t", "this_is_not_a_directive")
    finally:
        host.exec(f"rm -f {broken}")
    assert checks(web_host.wizard, "web")["web.service"]["status"] == "ok"


def test_a_missing_index_gives_403_and_fails_no_403(web_host):
    host = web_host.wizard.host
    try:
        host.exec(f"mv {PUBLIC}/index.html /root/index.html.saved")
        results = checks(web_host.wizard, "vhost")
        assert_fails(results["vhost.no_403"], "403", "index")
        assert_fails(results["vhost.serves"], "403")
    finally:
        host.exec(f"mv /root/index.html.saved {PUBLIC}/index.html")
    assert checks(web_host.wizard, "vhost")["vhost.no_403"]["status"] == "ok"


def test_a_redirect_to_the_wrong_host_fails_canonical_and_apply_repairs_it(web_host):
    host = web_host.wizard.host
    host.exec(
        f"sed -i 's#return 301 http://{DOMAIN}#return 301 http://wrong.example.com#' {VHOST_CONF}"
        " && systemctl reload nginx"
    )
    results = checks(web_host.wizard, "vhost")
    assert_fails(results["vhost.canonical"], "wrong.example.com", "vhost step again")
    # The hand edit shows as drift; applying the step puts the redirect back.
    apply_ok(web_host.wizard, web_host.address, ["vhost"], web_host.answers)
    assert checks(web_host.wizard, "vhost")["vhost.canonical"]["status"] == "ok"


def test_a_world_writable_web_root_fails_permissions(web_host):
    host = web_host.wizard.host
    try:
        host.exec(f"chmod 0777 {PUBLIC}")
        assert_fails(checks(web_host.wizard, "vhost")["vhost.permissions"], "777", "chmod")
        host.exec(f"chmod 2750 {PUBLIC} && chmod 0666 {PUBLIC}/index.html")
        assert_fails(checks(web_host.wizard, "vhost")["vhost.permissions"], "666 admin:www-data")
    finally:
        host.exec(f"chmod 2750 {PUBLIC} && chmod 0640 {PUBLIC}/index.html")
    assert checks(web_host.wizard, "vhost")["vhost.permissions"]["status"] == "ok"


def test_apache_variant_reaches_every_check_ok(fresh_testhost, wizard_factory, tmp_path):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    answers = tmp_path / "apache.toml"
    answers.write_text(
        QUICK.read_text()
        + WEB_ANSWERS.replace('"nginx"', '"apache"').replace('"bare"', '"www"')
        + 'owner = "site"\ntrusted_proxies = "192.0.2.0/24"\n'
    )
    output = apply_ok(
        wizard, f"root@{fresh_testhost.address}", ["base", "admin-user", *WEB_STEPS], answers
    )
    assert "✘" not in output, output
    results = checks(wizard, *WEB_STEPS)
    assert all(r["status"] == "ok" for r in results.values()), results
    assert re.search(r"Server MPM:\s+event", results["web.service"]["evidence"])
    assert f"Location: http://www.{DOMAIN}/" in results["vhost.canonical"]["evidence"]
    assert "site:www-data" in results["vhost.permissions"]["summary"]
    host = fresh_testhost
    assert host.exec("systemctl is-active apache2").stdout.strip() == "active"
    assert host.exec("dpkg -l nginx", check=False).returncode != 0
    site = host.exec(f"cat /etc/apache2/vps-wizard/vhost-{DOMAIN}.conf").stdout
    assert "RemoteIPTrustedProxy 192.0.2.0/24" in site
    again = apply_ok(wizard, fresh_testhost.address, WEB_STEPS, answers)
    for step in WEB_STEPS:
        assert f"== {step}: nothing to change" in again
