"""The wordpress step's judgements without a server: the installer page, the database user's
grants, what PHP could write, xmlrpc.php; and the step's files as its answers render them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from wizard.catalog import load_catalog
from wizard.checks.base import CheckStatus
from wizard.checks.wordpress import (
    code_script,
    grants_script,
    judge_code,
    judge_grants,
    judge_https,
    judge_xmlrpc,
)
from wizard.probes.http import HttpAnswer
from wizard.render import render_template

HOST = "example.net"
WHERE = "GET https://example.net/wp-admin/install.php at 10.254.2.2:443"
INSTALLER = (
    b"<!DOCTYPE html><html><head><title>WordPress &rsaquo; Installation</title></head>"
    b"<body>WordPress</body></html>"
)
USAGE = "GRANT USAGE ON *.* TO `wp_user`@`localhost` IDENTIFIED BY PASSWORD '*0123ABCD'"
OWN = "GRANT ALL PRIVILEGES ON `wp\\_site`.* TO `wp_user`@`localhost`"


def page(status: int, body: bytes = b"", error: str = "") -> HttpAnswer:
    return HttpAnswer(WHERE, status, {}, body, error=error)


def test_the_installer_made_by_php_is_ok() -> None:
    result = judge_https(HOST, page(200, INSTALLER))
    assert result.status is CheckStatus.OK
    assert "its installer" in result.summary
    assert "title: WordPress &rsaquo; Installation" in result.evidence


def test_the_already_installed_page_is_ok_too() -> None:
    body = b"<title>WordPress &rsaquo; Installation</title><h1>Already Installed</h1>"
    result = judge_https(HOST, page(200, body))
    assert result.status is CheckStatus.OK and "already installed" in result.summary


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (page(502, b"<title>502 Bad Gateway</title>"), ("502", "PHP-FPM does not answer")),
        (page(200, b"<?php\nrequire 'wp-load.php';"), ("PHP source",)),
        (
            page(404, b"Neither <b>/etc/wordpress/config-example.net.php</b> nor ..."),
            ("no configuration", "config-<domain>.php"),
        ),
        (
            page(500, b"<title>Database Error</title>Error establishing a database connection"),
            ("cannot log in to its database",),
        ),
        (page(200, b"<title>example.net</title>placeholder"), ("not WordPress's page",)),
        (page(0, error="refused"), ("got no answer",)),
    ],
)
def test_what_is_not_wordpress_through_php_fails(answer: HttpAnswer, words: tuple[str]) -> None:
    result = judge_https(HOST, answer)
    assert result.status is CheckStatus.FAIL and result.hint
    for word in words:
        assert word in result.summary + result.hint, result


def test_its_own_database_only_is_ok_and_the_hash_is_hidden() -> None:
    result = judge_grants("wp_user", "wp_site", f"{USAGE}\n{OWN}\n")
    assert result.status is CheckStatus.OK
    assert "*0123ABCD" not in result.evidence
    assert "IDENTIFIED BY PASSWORD '…'" in result.evidence


def test_a_name_without_underscore_needs_no_escape() -> None:
    own = "GRANT ALL PRIVILEGES ON `wordpress`.* TO `wordpress`@`localhost`"
    result = judge_grants("wordpress", "wordpress", f"{USAGE}\n{own}")
    assert result.status is CheckStatus.OK


@pytest.mark.parametrize(
    "extra",
    [
        "GRANT ALL PRIVILEGES ON *.* TO `wp_user`@`localhost` IDENTIFIED BY PASSWORD '*01'",
        "GRANT SELECT ON `other`.* TO `wp_user`@`localhost`",
        # Unescaped, wp_site is a pattern: it matches wpXsite too.
        "GRANT SELECT ON `wp_site`.* TO `wp_user`@`localhost`",
    ],
)
def test_a_privilege_beyond_its_database_fails(extra: str) -> None:
    result = judge_grants("wp_user", "wp_site", f"{extra}\n{OWN}")
    assert result.status is CheckStatus.FAIL
    assert "beyond its database wp_site" in result.summary
    assert "REVOKE" in result.hint
    assert "'*01'" not in result.evidence


def test_a_missing_user_or_privilege_fails() -> None:
    missing = judge_grants("wp_user", "wp_site", "ERROR 1141 (42000): There is no such grant")
    assert missing.status is CheckStatus.FAIL and "no user wp_user@localhost" in missing.summary
    usage_only = judge_grants("wp_user", "wp_site", USAGE)
    assert usage_only.status is CheckStatus.FAIL and "lacks ALL PRIVILEGES" in usage_only.summary


def test_nothing_writable_is_ok_and_each_writable_entry_is_named() -> None:
    looked = "www-data\t.\n" * 3
    ok = judge_code("www-data\n", looked)
    assert ok.status is CheckStatus.OK and "3 entries looked at" in ok.evidence
    found = looked + "www-data\tW\t/usr/share/wordpress/wp-login.php\n"
    result = judge_code("www-data\n", found)
    assert result.status is CheckStatus.FAIL
    assert "1 writable entries" in result.summary
    assert "www-data can write /usr/share/wordpress/wp-login.php" in result.evidence


def test_no_pool_user_or_nothing_looked_at_fails() -> None:
    assert judge_code("", "").status is CheckStatus.FAIL
    assert judge_code("www-data", "").status is CheckStatus.FAIL


def test_xmlrpc_blocked_wants_403_and_open_wants_wordpress() -> None:
    forbidden = page(403, b"<title>403 Forbidden</title>")
    served = page(405, b"XML-RPC server accepts POST requests only.")
    assert judge_xmlrpc(HOST, True, forbidden).status is CheckStatus.OK
    unblocked = judge_xmlrpc(HOST, True, served)
    assert unblocked.status is CheckStatus.FAIL and "not 403" in unblocked.summary
    assert "xmlrpc = open" in unblocked.hint
    assert judge_xmlrpc(HOST, False, served).status is CheckStatus.OK
    installer = HttpAnswer(
        WHERE, 302, {"location": "https://example.net/wp-admin/install.php"}, b""
    )
    assert judge_xmlrpc(HOST, False, installer).status is CheckStatus.OK
    assert judge_xmlrpc(HOST, True, installer).status is CheckStatus.FAIL
    assert judge_xmlrpc(HOST, False, forbidden).status is CheckStatus.FAIL


def test_the_scripts_give_each_value_as_one_word() -> None:
    grants = str(grants_script("wp_user"))
    assert (
        "mariadb -N -r -e 'SHOW GRANTS FOR '\"'\"'wp_user'\"'\"'@'\"'\"'localhost'\"'\"''" in grants
    )
    code = str(code_script("/var/www/my site", "8.2"))
    assert "'/var/www/my site'" in code
    assert "/etc/php/8.2/fpm/pool.d/*.conf" in code
    assert "-path /var/lib/wordpress/wp-content/uploads -prune" in code


STEP = load_catalog().get("wordpress")
VHOST = SimpleNamespace(domain="example.net", canonical="www", owner="site")


def rendered(template: str, **answers: str) -> str:
    values = {"db_name": "wp_site", "db_user": "wp_user", "table_prefix": "wp_"}
    values |= {"xmlrpc": "blocked", **answers}
    context = {"answers": values, "steps": {"vhost": VHOST, "web": {"server": "nginx"}}}
    return render_template(STEP, template, context)


def test_the_config_starts_php_names_the_database_and_turns_off_file_changes() -> None:
    config = rendered("config.php.j2")
    assert config.startswith("<?php\n")
    assert "define('DB_NAME', 'wp_site');" in config
    assert "require '/etc/wordpress/vps-wizard/example.net-secrets.php';" in config
    assert "define('WP_HOME', 'https://www.example.net');" in config
    assert "define('DISALLOW_FILE_MODS', true);" in config
    assert "DB_PASSWORD" not in config.replace("// DB_PASSWORD", "")


def test_xmlrpc_is_blocked_only_when_answered_so() -> None:
    assert "location = /xmlrpc.php" in rendered("nginx-wordpress.conf.j2")
    assert "xmlrpc" not in rendered("nginx-wordpress.conf.j2", xmlrpc="open").split("#", 2)[-1]
    assert '<Files "xmlrpc.php">' in rendered("apache-wordpress.conf.j2")
    assert "<Files" not in rendered("apache-wordpress.conf.j2", xmlrpc="open")


def test_apache_serves_wordpress_before_the_vhost_placeholder() -> None:
    assert "DirectoryIndex index.php index.html\n" in rendered("apache-wordpress.conf.j2")
