"""The pure judges of the web, database and vhost checks, against outputs of healthy and of
broken servers (taken from a Debian 12 test host), and the HTTP helper against a loopback server.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from wizard.checks import database, vhost, web
from wizard.checks.base import CheckResult
from wizard.checks.params import safe_path
from wizard.probes.http import HttpAnswer, http_get

WHERE = "GET http://test.example.net/x at 10.254.1.2:80"
LIMITS = {"memory_limit": "256M", "upload_max_filesize": "32M", "post_max_size": "40M"}


def assert_fails(result: CheckResult, *words: str) -> None:
    """A fail that shows what was seen and says what to do, mentioning each of words."""
    assert result.status == "fail", result
    assert result.hint.strip() and result.evidence.strip(), result
    text = f"{result.summary}\n{result.evidence}\n{result.hint}"
    for word in words:
        assert word in text, (word, text)


# ----------------------------------------------------------------------------- web.service

NGINX_T_OK = (
    "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
    "nginx: configuration file /etc/nginx/nginx.conf test is successful"
)
APACHE_FEATURES = "Server MPM:     event\n http2_module (shared)\n proxy_fcgi_module (shared)\n"


def test_service_ok_for_nginx_with_http2():
    result = web.judge_service("nginx", "active", "enabled", NGINX_T_OK, 0, "--with-http_v2_module")
    assert result.status == "ok", result
    assert "syntax is ok" in result.evidence


def test_service_fails_on_a_config_error_naming_the_line():
    output = (
        'nginx: [emerg] unknown directive "bogus" in /etc/nginx/conf.d/x.conf:1\n'
        "nginx: configuration file /etc/nginx/nginx.conf test failed"
    )
    result = web.judge_service("nginx", "active", "enabled", output, 1, "--with-http_v2_module")
    assert_fails(result, "nginx -t", "conf.d/x.conf:1")


def test_service_fails_when_stopped_or_not_enabled_or_missing():
    assert_fails(
        web.judge_service("nginx", "inactive", "enabled", NGINX_T_OK, 0, "--with-http_v2_module"),
        "inactive",
        "systemctl start nginx",
    )
    assert_fails(
        web.judge_service("nginx", "active", "disabled", NGINX_T_OK, 0, "--with-http_v2_module"),
        "systemctl enable nginx",
    )
    assert_fails(web.judge_service("nginx", "", "", "", 127, ""), "not installed")


def test_service_apache_needs_mpm_event_http2_and_proxy_fcgi():
    ok_result = web.judge_service("apache", "active", "enabled", "Syntax OK", 0, APACHE_FEATURES)
    assert ok_result.status == "ok", ok_result
    prefork = APACHE_FEATURES.replace("event", "prefork")
    assert_fails(
        web.judge_service("apache", "active", "enabled", "Syntax OK", 0, prefork), "prefork"
    )
    no_h2 = APACHE_FEATURES.replace(" http2_module (shared)\n", "")
    assert_fails(
        web.judge_service("apache", "active", "enabled", "Syntax OK", 0, no_h2), "http2_module"
    )


# ----------------------------------------------------------------------------- web.php


def probe_answer(token: str = "abc", **changes: str) -> HttpAnswer:
    """What a healthy probe prints, with some values changed."""
    values = {
        "token": web.probe_proof(token),
        "sapi": "fpm-fcgi",
        "version": "8.2.36",
        **LIMITS,
        "expose_php": "",
        "opcache": "on",
        **changes,
    }
    body = "".join(f"{k}={v}\n" for k, v in values.items()).encode()
    return HttpAnswer(WHERE, 200, {"content-type": "text/plain"}, body)


def test_php_ok_when_the_probe_ran_through_fpm_with_the_limits():
    result = web.judge_php(probe_answer(), web.probe_proof("abc"), LIMITS, "php8.2-fpm")
    assert result.status == "ok", result
    assert "PHP 8.2.36" in result.summary and "OPcache: on" in result.evidence


def test_php_fails_on_502_with_the_fpm_unit_to_restart():
    answer = HttpAnswer(WHERE, 502, {}, b"<html>502 Bad Gateway</html>")
    assert_fails(web.judge_php(answer, "x", LIMITS, "php8.2-fpm"), "502", "php8.2-fpm")


def test_php_fails_when_the_source_is_served_as_text():
    answer = HttpAnswer(WHERE, 200, {}, web.probe_source("abc").encode())
    assert_fails(web.judge_php(answer, web.probe_proof("abc"), LIMITS), "source", "PHP-FPM")


def test_php_fails_on_a_foreign_answer_wrong_limits_expose_php_and_no_opcache():
    proof = web.probe_proof("abc")
    assert_fails(web.judge_php(probe_answer("other"), proof, LIMITS), "not the probe")
    assert_fails(
        web.judge_php(probe_answer(memory_limit="128M"), proof, LIMITS), "memory_limit is 128M"
    )
    assert_fails(web.judge_php(probe_answer(expose_php="1"), proof, LIMITS), "expose_php")
    assert_fails(web.judge_php(probe_answer(opcache="off"), proof, LIMITS), "OPcache is off")
    assert_fails(web.judge_php(probe_answer(sapi="cgi-fcgi"), proof, LIMITS), "cgi-fcgi")


def test_php_fails_when_the_firewall_drops_port_80_and_says_so():
    answer = HttpAnswer(WHERE, error="filtered", detail="no answer within 5 s")
    assert_fails(web.judge_php(answer, "x", LIMITS), "filtered", "firewall step again")


def test_probe_proof_is_not_in_the_probe_source():
    assert web.probe_proof("abc") not in web.probe_source("abc")
    assert "abc" in web.probe_source("abc")


def test_safe_path_refuses_what_a_shell_could_misread():
    assert safe_path("/var/www/example.org")
    for bad in ("var/www", "/var/www/$(id)", "/var/www/a b", "/var/www/../etc"):
        assert not safe_path(bad), bad


# ----------------------------------------------------------------------------- database.secure

# mysql.global_priv rows as `mariadb -N -B` prints them on Debian 12.
ROOT_SOCKET_ONLY = (
    'root\tlocalhost\t{"access":549755813887,"plugin":"unix_socket",'
    '"authentication_string":"","auth_or":[{}]}'
)
ROOT_DEBIAN_DEFAULT = (
    'root\tlocalhost\t{"access":549755813887,"plugin":"mysql_native_password",'
    '"authentication_string":"invalid","auth_or":[{},{"plugin":"unix_socket"}]}'
)
ROOT_PASSWORD = (
    'root\tlocalhost\t{"plugin":"mysql_native_password","authentication_string":"*ABC",'
    '"auth_or":[{},{"plugin":"unix_socket"}]}'
)
ROOT_REMOTE = 'root\t%\t{"plugin":"mysql_native_password","authentication_string":""}'
LISTEN_LOCAL = 'LISTEN 0      80     127.0.0.1:3306 0.0.0.0:* users:(("mariadbd",pid=9542,fd=21))'
LISTEN_ALL = 'LISTEN 0      80       0.0.0.0:3306 0.0.0.0:* users:(("mariadbd",pid=9542,fd=21))'


def secure(**changes: object) -> CheckResult:
    """judge_secure on a healthy server's output, with some sections changed."""
    values: dict[str, object] = {
        "active": "active",
        "root_rows": ROOT_SOCKET_ONLY,
        "query_rc": 0,
        "anonymous": "",
        "test_dbs": "",
        "engine": "InnoDB",
        "myisam": "",
        "listen": LISTEN_LOCAL,
        **changes,
    }
    return database.judge_secure(**values)  # type: ignore[arg-type]


def test_secure_ok_on_the_stepped_server():
    result = secure()
    assert result.status == "ok", result
    assert "unix_socket only" in result.evidence and "127.0.0.1:3306" in result.evidence


def test_root_with_an_unusable_password_is_socket_only_but_a_real_one_is_not():
    assert database.root_problems(ROOT_DEBIAN_DEFAULT) == []
    assert database.root_problems(ROOT_SOCKET_ONLY) == []
    assert database.root_problems(ROOT_PASSWORD) == [
        "root@localhost can log in with mysql_native_password and a password"
    ]
    problems = database.root_problems(ROOT_REMOTE)
    assert "root@% exists (root from another host)" in problems
    assert any("empty password" in p for p in problems)


def test_secure_fails_when_listening_everywhere_with_the_bind_address_hint():
    result = secure(listen=LISTEN_ALL)
    assert_fails(result, "0.0.0.0:3306", "bind-address")
    assert "convert" not in result.hint  # only the exposure's fix


def test_secure_fails_on_each_left_over_of_an_unsecured_install():
    assert_fails(secure(root_rows=ROOT_PASSWORD), "root can log in")
    assert_fails(secure(anonymous="''@'localhost'"), "anonymous", "database step again")
    assert_fails(secure(test_dbs="test"), "test database")
    assert_fails(secure(engine="MyISAM"), "default storage engine is MyISAM")
    assert_fails(secure(myisam="shop.orders\nshop.items"), "2 MyISAM", "shop.orders")


def test_secure_fails_when_mariadb_is_stopped_or_missing():
    assert_fails(
        secure(active="inactive", query_rc=1, root_rows="ERROR 2002 (HY000)"),
        "inactive",
        "systemctl start mariadb",
    )
    assert_fails(secure(query_rc=127), "not installed")


def test_loopback_addresses_of_ss():
    assert database.is_loopback("127.0.0.1:3306")
    assert database.is_loopback("[::1]:3306")
    assert not database.is_loopback("0.0.0.0:3306")
    assert not database.is_loopback("*:3306")
    assert not database.is_loopback("[::]:3306")
    assert database.listen_addresses(LISTEN_LOCAL + "\n" + LISTEN_ALL) == [
        "127.0.0.1:3306",
        "0.0.0.0:3306",
    ]


def test_not_exposed_judge():
    ok_result = database.judge_not_exposed(3306, [("10.254.1.2", "refused", "")])
    assert ok_result.status == "ok"
    assert database.judge_not_exposed(3306, [("10.254.1.2", "filtered", "")]).status == "ok"
    assert_fails(
        database.judge_not_exposed(
            3306, [("10.254.1.2", "refused", ""), ("2001:db8::2", "open", "")]
        ),
        "2001:db8::2",
        "bind-address",
    )
    unreachable = database.judge_not_exposed(3306, [("2001:db8::2", "unreachable", "no route")])
    assert unreachable.status == "warn"


# ----------------------------------------------------------------------------- vhost


def answer(
    status: int, location: str = "", body: bytes = b"", host: str = "example.org"
) -> HttpAnswer:
    """A response to GET http://host/."""
    headers = {"location": location} if location else {}
    return HttpAnswer(f"GET http://{host}/ at 10.254.1.2:80", status, headers, body)


def test_serves_ok_and_its_failures():
    page = answer(200, body=b"<title>example.org</title>")
    result = vhost.judge_serves("example.org", page)
    assert result.status == "ok" and "title: example.org" in result.evidence
    assert_fails(vhost.judge_serves("example.org", answer(403)), "403", "index")
    assert_fails(
        vhost.judge_serves("example.org", answer(301, "http://www.example.org/")), "redirects"
    )
    assert_fails(vhost.judge_serves("example.org", answer(502)), "502", "PHP-FPM")
    closed = HttpAnswer("GET http://example.org/", error="closed", detail="closed")
    assert_fails(vhost.judge_serves("example.org", closed), "closed", "server_name")


def test_canonical_redirect_must_go_to_the_canonical_host_with_the_path():
    good = f"http://example.org{vhost.CANONICAL_PATH}"
    assert vhost.judge_canonical("example.org", "www.example.org", answer(301, good)).status == "ok"
    https = f"https://example.org{vhost.CANONICAL_PATH}"
    assert (
        vhost.judge_canonical("example.org", "www.example.org", answer(301, https)).status == "ok"
    )
    wrong = f"http://wrong.example.com{vhost.CANONICAL_PATH}"
    assert_fails(
        vhost.judge_canonical("example.org", "www.example.org", answer(301, wrong)),
        "wrong.example.com",
    )
    assert_fails(
        vhost.judge_canonical("example.org", "www.example.org", answer(301, "http://example.org/")),
        "path kept",
    )
    assert_fails(vhost.judge_canonical("example.org", "www.example.org", answer(200)), "HTTP 200")
    assert_fails(vhost.judge_canonical("example.org", "www.example.org", answer(302, good)), "302")


def test_no_403_follows_the_redirect_to_www_and_fails_on_403():
    hops = [answer(301, "http://www.example.org/"), answer(200, host="www.example.org")]
    result = vhost.judge_no_403("example.org", hops)
    assert result.status == "ok" and "www.example.org" in result.evidence
    assert_fails(vhost.judge_no_403("example.org", [answer(403)]), "403", "chapter 32")
    assert_fails(
        vhost.judge_no_403("example.org", [answer(301, "http://a/"), answer(301, "http://b/")]),
        "redirects",
    )


TOP_OK = "2750 admin www-data /var/www/example.org\n2750 admin www-data /var/www/example.org/public"


def test_permissions_ok_wrong_top_wrong_entries_and_others_readable():
    root = "/var/www/example.org"
    assert vhost.judge_permissions(root, "admin", TOP_OK, "", "").status == "ok"
    top_open = TOP_OK.replace(
        "2750 admin www-data /var/www/example.org/public",
        "777 admin www-data /var/www/example.org/public",
    )
    assert_fails(vhost.judge_permissions(root, "admin", top_open, "", ""), "777", "chmod")
    missing = "stat: cannot statx '/var/www/example.org': No such file or directory"
    assert_fails(vhost.judge_permissions(root, "admin", missing, "", ""), "missing", "vhost step")
    wrong = "666 admin:www-data /var/www/example.org/public/index.html"
    assert_fails(vhost.judge_permissions(root, "admin", TOP_OK, wrong, wrong), "666", "chown")
    readable = "644 admin:www-data /var/www/example.org/public/a.css"
    assert vhost.judge_permissions(root, "admin", TOP_OK, "", readable).status == "warn"


# ----------------------------------------------------------------------------- http_get


@pytest.fixture
def loopback_server() -> Iterator[int]:
    """A tiny HTTP server on 127.0.0.1 that echoes the Host header and redirects /old."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the stdlib calls it by this name
            if self.path == "/old":
                self.send_response(301)
                self.send_header("Location", "http://example.org/new")
                self.end_headers()
                return
            body = json.dumps({"host": self.headers["Host"], "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_http_get_sends_the_host_header_and_does_not_follow_redirects(loopback_server):
    got = http_get("127.0.0.1", "example.org", "/page?x=1", port=loopback_server)
    assert got.status == 200 and json.loads(got.body) == {
        "host": "example.org",
        "path": "/page?x=1",
    }
    moved = http_get("127.0.0.1", "www.example.org", "/old", port=loopback_server)
    assert moved.status == 301 and moved.header("Location") == "http://example.org/new"


def test_http_get_tells_refused_from_closed():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert http_get("127.0.0.1", "example.org", port=port).error == "refused"

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def close_at_once() -> None:
        connection, _ = listener.accept()
        connection.recv(1024)
        connection.close()

    thread = threading.Thread(target=close_at_once, daemon=True)
    thread.start()
    try:
        got = http_get("127.0.0.1", "example.org", port=listener.getsockname()[1])
        assert got.error == "closed", got
    finally:
        thread.join(5)
        listener.close()
