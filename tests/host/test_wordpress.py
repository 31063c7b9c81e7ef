"""The wordpress step on a real Debian 12 host with nginx, MariaDB and a self-signed
certificate, applied through the CLI: WordPress answers over HTTPS through PHP-FPM, its
database user holds its own database only, PHP cannot write the code, xmlrpc.php is blocked;
the password and the salts stay on the server (none on the laptop, none in the apply's output)
and a second apply keeps them. Each check is shown failing on the host broken by hand, and
ok again once the step is applied again. In the TUI: the checks, then a new database name
reviewed and applied by keyboard."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from tests.host.pilot import (
    make_app,
    overview_ready,
    run_step,
    select_step,
    verify_step,
    wait_until,
)
from wizard.probes.http import http_get

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
STEP = "wordpress"
STEPS = ("base", "web", "database", "vhost", "tls", STEP)
SECRETS = f"/etc/wordpress/vps-wizard/{DOMAIN}-secrets.php"
CONFIG = f"/etc/wordpress/config-{DOMAIN}.php"
HOOK = f"/etc/nginx/snippets/vhost-{DOMAIN}-https-wordpress.conf"
ANSWERS = f"""
[web]
server = "nginx"

[vhost]
domain = "{DOMAIN}"
canonical = "bare"

[tls]
source = "self-signed"

[wordpress]
db_name = "wp_site"
db_user = "wp_user"
xmlrpc = "blocked"
"""
SHOW_GRANTS = "mariadb -N -r -e \"SHOW GRANTS FOR 'wp_user'@'localhost'\""


@dataclass
class WordPressHost:
    """A host with WordPress applied, its laptop and the first apply's output."""

    wizard: Wizard
    answers: Path
    first_output: str

    def apply(self) -> str:
        """The wordpress step applied again with the module's answers."""
        return apply_ok(self.wizard, self.wizard.host.address, [STEP], self.answers)

    def exec(self, command: str) -> str:
        """A command on the host, its output."""
        return self.wizard.host.exec(command).stdout

    def secrets(self) -> str:
        """The secrets file as the server has it."""
        return self.exec(f"cat {SECRETS}")

    def password(self) -> str:
        """The database password the server made."""
        line = next(line for line in self.secrets().splitlines() if "DB_PASSWORD" in line)
        return line.split("'")[3]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPressHost]:
    """Base, web (nginx), database, vhost, tls (self-signed) and wordpress, by the CLI."""
    testhost = boot_free("vwq", range(2, 16))
    try:
        home = tmp_path_factory.mktemp("wordpress-laptop")
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = home / "answers.toml"
        answers.write_text(QUICK.read_text() + ANSWERS)
        output = apply_ok(wizard, f"root@{testhost.address}", STEPS, answers)
        yield WordPressHost(wizard, answers, output)
    finally:
        testhost.stop()


def test_every_check_is_ok_and_the_installer_runs_over_https(site):
    results = checks(site.wizard, STEP)
    assert set(results) == {
        "wordpress.https",
        "wordpress.db_grants",
        "wordpress.code_readonly",
        "wordpress.xmlrpc",
    }
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    assert "its installer" in results["wordpress.https"]["summary"]
    assert "wp_user holds its own database wp_site" in results["wordpress.db_grants"]["summary"]
    assert "(www-data)" in results["wordpress.code_readonly"]["summary"]
    assert "HTTP 403" in results["wordpress.xmlrpc"]["evidence"]
    # The password's hash is never shown with the grants.
    assert "IDENTIFIED BY PASSWORD '…'" in results["wordpress.db_grants"]["evidence"]

    address = site.wizard.host.address
    page = http_get(address, DOMAIN, "/wp-admin/install.php", https=True)
    assert page.status == 200 and "<?php" not in page.text, page.summary()
    # The site's own root runs WordPress too (to its installer until one finishes it).
    front = http_get(address, DOMAIN, "/", https=True)
    assert front.status in (200, 302) and "<?php" not in front.text, front.summary()
    # Nothing in the uploads runs as PHP, even when PHP put it there.
    site.exec("echo '<?php echo 1;' > /var/lib/wordpress/wp-content/uploads/x.php")
    assert http_get(address, DOMAIN, "/wp-content/uploads/x.php", https=True).status == 403
    site.exec("rm /var/lib/wordpress/wp-content/uploads/x.php")

    # Made on the server: 0640 root:www-data, the salts fresh (64 characters of base64).
    assert site.exec(f"stat -c '%a %U %G' {SECRETS} {CONFIG}").split("\n")[:2] == [
        "640 root www-data",
        "640 root www-data",
    ]
    secrets = site.secrets()
    assert secrets.count("define(") == 9 and "'AUTH_KEY', '" in secrets
    assert "DISALLOW_FILE_MODS', true" in site.exec(f"cat {CONFIG}")


def test_the_password_stays_on_the_server(site):
    password = site.password()
    assert len(password) == 48
    assert password not in site.first_output
    for path in site.wizard.home.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    # Nor in the server's own copy of the wizard's state.
    assert password not in site.exec("cat /var/lib/vps-wizard/state.json 2>/dev/null || true")


def test_a_second_apply_changes_nothing_and_keeps_the_secrets(site):
    before = site.secrets()
    again = site.apply()
    assert f"== {STEP}: nothing to change" in again, again
    assert site.secrets() == before


def test_a_code_file_writable_by_php_fails_and_the_step_repairs(site):
    site.exec("chown www-data /var/lib/wordpress/wp-content/plugins")
    site.exec("chmod o+w /usr/share/wordpress/wp-login.php")
    result = checks(site.wizard, STEP)["wordpress.code_readonly"]
    assert_fails(
        result,
        "2 writable entries",
        "www-data can write /var/lib/wordpress/wp-content/plugins",
        "www-data can write /usr/share/wordpress/wp-login.php",
        "chmod go-w",
    )
    site.exec("chmod o-w /usr/share/wordpress/wp-login.php")  # the package's file: apt's to fix
    site.apply()
    assert checks(site.wizard, STEP)["wordpress.code_readonly"]["status"] == "ok"


def test_grants_on_every_database_fail_and_the_step_takes_them_back(site):
    site.exec("mariadb -e \"GRANT ALL PRIVILEGES ON *.* TO 'wp_user'@'localhost'\"")
    result = checks(site.wizard, STEP)["wordpress.db_grants"]
    assert_fails(result, "beyond its database wp_site", "ALL PRIVILEGES ON *.*", "REVOKE")
    assert "IDENTIFIED BY PASSWORD '*" not in result["evidence"]
    password = site.password()
    site.apply()
    assert checks(site.wizard, STEP)["wordpress.db_grants"]["status"] == "ok"
    assert "ON *.*" in site.exec(SHOW_GRANTS) and "GRANT USAGE" in site.exec(SHOW_GRANTS)
    assert site.password() == password


def test_xmlrpc_unblocked_fails_and_the_step_blocks_it_again(site):
    site.exec(f"sed -i '/location = \\/xmlrpc.php/,/^}}/d' {HOOK}")
    site.exec("nginx -t -q && systemctl reload nginx")
    result = checks(site.wizard, STEP)["wordpress.xmlrpc"]
    # Not installed yet, WordPress sends every entry point to its installer.
    assert_fails(result, "HTTP 302, not 403", "/wp-admin/install.php", "xmlrpc = open")
    site.apply()
    assert checks(site.wizard, STEP)["wordpress.xmlrpc"]["status"] == "ok"


def test_php_fpm_stopped_fails_https_with_a_502(site):
    site.exec("systemctl stop php8.2-fpm")
    try:
        result = checks(site.wizard, STEP)["wordpress.https"]
        assert_fails(result, "HTTP 502", "PHP-FPM does not answer", "systemctl start")
    finally:
        site.exec("systemctl start php8.2-fpm")
    assert checks(site.wizard, STEP)["wordpress.https"]["status"] == "ok"


async def test_a_new_database_name_reviewed_and_applied_in_the_tui(site):
    # By keyboard: the step's form, its review (the config's DB_NAME), the apply, every check
    # ok on the verify screen; the user then holds the new database only.
    app = make_app(site.wizard, None)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: overview_ready(app), 30)
        assert app.screen.statuses[STEP].record.status == "verified"
        await verify_step(pilot, app, STEP)
        await select_step(pilot, app, STEP)
        await run_step(pilot, app, STEP, {"db_name": "wpsite"})
        status = app.screen.statuses[STEP].record.status
        await pilot.press("q")
    assert status == "verified"
    assert "define('DB_NAME', 'wpsite');" in site.exec(f"cat {CONFIG}")
    grants = site.exec(SHOW_GRANTS)
    assert "`wpsite`.*" in grants and "wp\\_site" not in grants, grants


def post_form(address: str, host: str, path: str, fields: dict[str, str]) -> int:
    """POST a form over HTTPS to the server's address with the site's name (Host and SNI), as a
    browser would once DNS points there; the status."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPConnection(address, 443, timeout=30)
    raw = socket.create_connection((address, 443), timeout=30)
    connection.sock = context.wrap_socket(raw, server_hostname=host)
    try:
        headers = {"Host": host, "Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", path, body=urlencode(fields), headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_once_installed_by_its_form_the_site_and_the_vhost_checks_answer(site):
    # What the user does in the browser after the apply: name the site, make the first account.
    form = {
        "weblog_title": "A test site",
        "user_name": "editor",
        "admin_password": "a long test passphrase 1",
        "admin_password2": "a long test passphrase 1",
        "admin_email": f"editor@{DOMAIN}",
        "blog_public": "0",
    }
    address = site.wizard.host.address
    assert post_form(address, DOMAIN, "/wp-admin/install.php?step=2", form) == 200
    results = checks(site.wizard, "vhost", STEP)
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    assert "already installed" in results["wordpress.https"]["summary"], results
    front = http_get(address, DOMAIN, "/", https=True)
    assert front.status == 200 and "A test site" in front.text, front.summary()
    # Pretty permalinks (chosen in the dashboard; here straight in its options): a path with no
    # file behind it reaches WordPress, which serves the post or answers its own 404.
    site.exec(
        "mariadb wpsite -e \"UPDATE wp_options SET option_value = '/%year%/%postname%/' "
        "WHERE option_name = 'permalink_structure'; "
        "DELETE FROM wp_options WHERE option_name = 'rewrite_rules'\""
    )
    year = site.exec("date +%Y").strip()
    post = http_get(address, DOMAIN, f"/{year}/hello-world/", https=True)
    assert post.status == 200 and "Hello world!" in post.text, post.summary()
    missing = http_get(address, DOMAIN, f"/{year}/no-such-post/", https=True)
    assert missing.status == 404 and "A test site" in missing.text, missing.summary()
