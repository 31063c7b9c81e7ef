"""The web hardening of the web, vhost and tls steps: what their files say (default servers that
serve no site, no welcome page, the security headers, gzip off over TLS), the CSP answer type,
and the judges of the checks that prove each from outside, against what healthy and broken
servers answer (taken from Debian 12 test hosts)."""

from __future__ import annotations

import datetime
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wizard.answers import AnswerError, parse_csp, validate_answers
from wizard.catalog import load_catalog
from wizard.checks import tls, vhost, web
from wizard.checks.base import CheckResult
from wizard.checks.tls import DefaultProbe
from wizard.plan import render_step
from wizard.probes.http import UNKNOWN_NAME, HttpAnswer, http_get
from wizard.probes.tls import Handshake

DOMAIN = "example.net"
FQDN = "test.example.net"
CSP = "default-src 'self'; img-src 'self' data: https://cdn.example.org"


def assert_fails(result: CheckResult, *words: str) -> None:
    """A fail that shows what was seen and says what to do, mentioning each of words."""
    assert result.status == "fail", result
    assert result.hint.strip() and result.evidence.strip(), result
    text = f"{result.summary}\n{result.evidence}\n{result.hint}"
    for word in words:
        assert word in text, (word, text)


# ----------------------------------------------------------------------------- rendering


def render(step_id: str, server: str = "nginx", **changes: Any) -> dict[str, str]:
    """The step's files (by destination) for `server`, with the answers' defaults changed."""
    catalog = load_catalog()
    raw: dict[str, dict[str, Any]] = {
        "web": {
            "server": server,
            "php_version": "8.2",
            "memory_limit": "256M",
            "upload_max": "32M",
        },
        "vhost": {
            "domain": DOMAIN,
            "canonical": "bare",
            "owner": "alice",
            "trusted_proxies": "",
            "csp": "",
        },
        "tls": {
            "source": "self-signed",
            "acme_server": "https://acme-v02.api.letsencrypt.org/directory",
            "email": "",
            "acme_ca_bundle": "",
            "ca_file": "",
            "cert_file": "",
            "key_file": "",
            "compress_https": False,
        },
    }
    raw[step_id].update(changes)
    answers = {sid: dict(validate_answers(catalog.get(sid), r).values) for sid, r in raw.items()}
    context = {
        "answers": answers[step_id],
        "facts": {"fqdn": FQDN, "os_version": "12"},
        "steps": {"base": {"fqdn": FQDN}, **answers},
    }
    desired = render_step(catalog.get(step_id), context)
    files = {file.dest: file.content.decode() for file in desired.files}
    files["commands"] = "\n".join(str(command.run) for command in desired.commands)
    return files


def test_nginx_serves_no_welcome_page_and_removes_it():
    files = render("web")
    conf = files["/etc/nginx/conf.d/00-vps-wizard.conf"]
    assert "index.nginx-debian.html" not in conf
    assert "listen 80 default_server;" in conf and "return 444;" in conf
    assert "rm -f /var/www/html/index.nginx-debian.html" in files["commands"]


def test_apache_denies_unknown_names_first_and_disables_the_default_site():
    files = render("web", server="apache")
    conf = files["/etc/apache2/conf-available/vps-wizard.conf"]
    default, own = conf.split("<VirtualHost *:80>")[1:3]
    assert "Require all denied" in default and "ServerName default.vps-wizard.invalid" in default
    assert f"ServerName {FQDN}" in own and "Options -Indexes" in own
    assert "a2dissite -q 000-default" in files["commands"]
    assert "headers" in files["commands"]


def test_nginx_rejects_the_handshake_of_unknown_names_on_443():
    conf = render("tls")["/etc/nginx/conf.d/10-vps-wizard-tls.conf"]
    default = conf.split("server {", 1)[1]
    assert "listen 443 ssl default_server;" in default
    assert "listen [::]:443 ssl default_server;" in default
    assert "ssl_reject_handshake on;" in default


def test_apache_answers_unknown_names_on_443_with_a_certificate_naming_no_site():
    files = render("tls", server="apache")
    conf = files["/etc/apache2/conf-available/vps-wizard-tls.conf"]
    assert "<VirtualHost *:443>" in conf and "Require all denied" in conf
    assert "/etc/ssl/vps-wizard/default/fullchain.pem" in conf
    assert "-subj /CN=default.vps-wizard.invalid" in files["commands"]


def test_gzip_is_off_in_both_https_servers_unless_chosen():
    https = f"/etc/nginx/conf.d/vhost-{DOMAIN}-tls.conf"
    assert render("tls")[https].count("gzip off;") == 2
    assert "gzip" not in render("tls", compress_https=True)[https]
    apache = f"/etc/apache2/sites-available/{DOMAIN}-tls.conf"
    assert render("tls", server="apache")[apache].count("SetEnv no-gzip 1") == 2
    assert "no-gzip" not in render("tls", server="apache", compress_https=True)[apache]


def test_the_site_sends_the_security_headers_and_the_csp_only_when_given():
    site = f"/etc/nginx/snippets/vhost-{DOMAIN}.conf"
    plain = render("vhost")[site]
    for line in (
        'add_header X-Content-Type-Options "nosniff" always;',
        'add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
        'add_header X-Frame-Options "SAMEORIGIN" always;',
    ):
        assert line in plain
    assert "Content-Security-Policy" not in plain
    with_csp = render("vhost", csp=CSP)[site]
    assert f'add_header Content-Security-Policy "{CSP}" always;' in with_csp
    apache = render("vhost", server="apache", csp=CSP)[
        f"/etc/apache2/vps-wizard/vhost-{DOMAIN}.conf"
    ]
    assert 'Header always set X-Frame-Options "SAMEORIGIN"' in apache
    assert f'Header always set Content-Security-Policy "{CSP}"' in apache


# ----------------------------------------------------------------------------- the csp type


def test_a_policy_is_taken_in_one_normal_spelling():
    assert parse_csp("default-src  'self' ;img-src 'self' data:;") == (
        "default-src 'self'; img-src 'self' data:"
    )
    assert parse_csp("script-src 'nonce-r4nd0m+/=' 'sha256-abc=' https://cdn.example.org/x.js")


@pytest.mark.parametrize(
    "policy",
    [
        'default-src "self"',  # would end nginx's and Apache's quoted value
        "default-src $host",  # an nginx variable
        "default-src %{HOME}e",  # an Apache format
        "default-src ${APACHE_LOG_DIR}",  # an Apache variable
        "default-src 'self', img-src *",  # a second policy
        "default-src 'self'\\",
        "Default-Src 'self'",
        "default-src 'self'\nadd_header X 1",
        ";",
    ],
)
def test_a_policy_that_would_break_the_directive_is_refused(policy):
    with pytest.raises(AnswerError):
        parse_csp(policy)


def test_the_vhost_question_takes_an_empty_policy():
    raw = {"domain": DOMAIN, "canonical": "bare", "owner": "alice", "trusted_proxies": ""}
    assert validate_answers(load_catalog().get("vhost"), {**raw, "csp": ""}).values["csp"] == ""
    with pytest.raises(AnswerError, match=r"vhost\.csp"):
        validate_answers(load_catalog().get("vhost"), {**raw, "csp": "default-src $x"})


# ----------------------------------------------------------------------------- web checks

WHERE = "GET http://{host}/ at 10.254.1.2:80"


def answer(host: str, status: int = 0, body: str = "", error: str = "", **headers: str):
    """An HttpAnswer as http_get builds it."""
    lines = tuple((name.replace("_", "-"), value) for name, value in headers.items())
    return HttpAnswer(
        WHERE.format(host=host),
        status,
        {k.lower(): v for k, v in lines},
        body.encode(),
        error,
        "closed without an HTTP response" if error == "closed" else "",
        lines=lines,
    )


def test_default_server_ok_when_closed_or_refused_with_4xx():
    closed = [answer(UNKNOWN_NAME, error="closed"), answer("10.254.1.2", error="closed")]
    assert web.judge_default_server("nginx", closed).status == "ok"
    denied = [answer(UNKNOWN_NAME, 403, "<title>403 Forbidden</title>")] * 2
    assert web.judge_default_server("apache", denied).status == "ok"


def test_default_server_fails_when_an_unknown_name_gets_a_page():
    site = "<title>example.net</title><p>example.net is served by this server."
    seen = [answer(UNKNOWN_NAME, error="closed"), answer("10.254.1.2", 200, site)]
    assert_fails(web.judge_default_server("nginx", seen), "HTTP 200", "example.net", "444")
    welcome = "<title>Apache2 Debian Default Page: It works</title>"
    seen = [answer(UNKNOWN_NAME, 200, welcome)] * 2
    assert_fails(web.judge_default_server("apache", seen), "000-default", "apache2ctl -S")


def test_default_server_says_when_port_80_is_filtered():
    seen = [answer(UNKNOWN_NAME, error="filtered")] * 2
    assert_fails(web.judge_default_server("nginx", seen), "filtered", "firewall")


def test_no_welcome_fails_on_each_distributions_page():
    for page in (
        "<h1>Welcome to nginx!</h1>",
        "Apache2 Debian Default Page",
        "Apache2 Ubuntu Default Page",
    ):
        assert_fails(web.judge_no_welcome(FQDN, answer(FQDN, 200, page)), "welcome", "web step")
    assert web.judge_no_welcome(FQDN, answer(FQDN, 403, "<title>403</title>")).status == "ok"
    assert web.judge_no_welcome(FQDN, answer(FQDN, 200, "<?php echo 'mine';")).status == "ok"


# ----------------------------------------------------------------------------- vhost.headers

GOOD = {
    "X_Content_Type_Options": "nosniff",
    "Referrer_Policy": "strict-origin-when-cross-origin",
    "X_Frame_Options": "SAMEORIGIN",
}


def test_headers_ok_with_each_once_and_the_csp_when_asked():
    assert vhost.judge_headers(DOMAIN, "", answer(DOMAIN, 200, **GOOD)).status == "ok"
    seen = answer(DOMAIN, 200, **GOOD, Content_Security_Policy=CSP)
    result = vhost.judge_headers(DOMAIN, CSP, seen)
    assert result.status == "ok", result
    assert CSP in result.evidence


def test_headers_fail_when_missing_wrong_or_doubled():
    missing = {k: v for k, v in GOOD.items() if k != "Referrer_Policy"}
    assert_fails(
        vhost.judge_headers(DOMAIN, "", answer(DOMAIN, 200, **missing)),
        "Referrer-Policy missing",
        "add_header",
    )
    wrong = {**GOOD, "X_Frame_Options": "ALLOWALL"}
    assert_fails(vhost.judge_headers(DOMAIN, "", answer(DOMAIN, 200, **wrong)), "ALLOWALL")
    doubled = answer(DOMAIN, 200, **GOOD)
    doubled = HttpAnswer(
        doubled.where, 200, doubled.headers, lines=(*doubled.lines, ("X-Frame-Options", "DENY"))
    )
    assert_fails(vhost.judge_headers(DOMAIN, "", doubled), "SAMEORIGIN | DENY")
    assert_fails(
        vhost.judge_headers(DOMAIN, CSP, answer(DOMAIN, 200, **GOOD)),
        "Content-Security-Policy missing",
    )


# ----------------------------------------------------------------------------- tls checks


def certificate(*names: str) -> bytes:
    """A self-signed DER certificate for names (none: a CN only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "x")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


NAMES = (DOMAIN, f"www.{DOMAIN}")
REJECTED = Handshake(
    error="[SSL: TLSV1_UNRECOGNIZED_NAME] tlsv1 unrecognized name", refused_by_server=True
)


def test_tls_default_server_ok_when_nginx_rejects_the_handshake():
    probes = [
        DefaultProbe("by address (no SNI)", REJECTED),
        DefaultProbe(tls.UNKNOWN_NAME, REJECTED),
    ]
    result = tls.judge_default_server(NAMES, probes)
    assert result.status == "ok", result
    assert "unrecognized name" in result.evidence


def test_tls_default_server_ok_with_a_certificate_naming_no_site_and_a_403():
    attempt = Handshake(version="TLSv1.3", leaf=certificate("default.vps-wizard.invalid"))
    page = answer("10.254.1.2", 403, "<title>403 Forbidden</title>")
    probes = [DefaultProbe("by address (no SNI)", attempt, page)] * 2
    assert tls.judge_default_server(NAMES, probes).status == "ok"


def test_tls_default_server_fails_when_the_site_answers_by_address():
    attempt = Handshake(version="TLSv1.3", leaf=certificate(*NAMES))
    page = answer("10.254.1.2", 200, "<title>example.net</title>")
    probes = [DefaultProbe("by address (no SNI)", attempt, page), DefaultProbe("x", REJECTED)]
    assert_fails(
        tls.judge_default_server(NAMES, probes),
        "site's certificate",
        "ssl_reject_handshake",
    )
    other = Handshake(version="TLSv1.3", leaf=certificate("other.invalid"))
    probes = [DefaultProbe("by address (no SNI)", other, page)]
    assert_fails(tls.judge_default_server(NAMES, probes), "HTTP 200")


def test_tls_default_server_fails_when_443_does_not_answer():
    silent = Handshake(error="TimeoutError: timed out")
    assert_fails(
        tls.judge_default_server(NAMES, [DefaultProbe("x", silent)]), "no answer", "firewall"
    )


def test_compression_fails_when_gzip_comes_back_and_is_off():
    gz = answer(DOMAIN, 200, "\x1f\x8b", Content_Encoding="gzip", Content_Type="text/html")
    assert_fails(tls.judge_compression(DOMAIN, False, gz), "gzip", "BREACH", "gzip off")
    assert tls.judge_compression(DOMAIN, True, gz).status == "ok"
    plain = answer(DOMAIN, 200, "<html>", Content_Type="text/html")
    result = tls.judge_compression(DOMAIN, False, plain)
    assert result.status == "ok" and "Content-Encoding: (none)" in result.evidence


# ----------------------------------------------------------------------------- http_get


@pytest.fixture
def loopback() -> Iterator[tuple[str, int, list[dict[str, str]]]]:
    """A loopback HTTP server that records the request headers and sends one header twice."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("X-Frame-Options", "SAMEORIGIN")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_http_get_sends_extra_headers_and_keeps_every_header_line(loopback):
    address, port, seen = loopback
    got = http_get(address, DOMAIN, port=port, extra_headers={"Accept-Encoding": "gzip"})
    assert got.status == 200
    assert seen[0]["Accept-Encoding"] == "gzip" and seen[0]["Host"] == DOMAIN
    assert got.values("x-frame-options") == ["SAMEORIGIN", "DENY"]
