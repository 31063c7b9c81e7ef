"""The web hardening of the web, vhost and tls steps on a real Debian 12 host with nginx: names
the server does not know, and its bare address, get no site on port 80 (closed) nor on 443 (the
handshake refused); the server's own name serves no welcome page; the site sends its security
headers (with the CSP answered); HTTPS answers are not compressed. Each check is shown failing
on the host broken by hand as Debian ships it (or as a hand edit leaves it), and ok again once
the step that owns it is applied again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from wizard.probes.http import UNKNOWN_NAME, http_get
from wizard.probes.tls import handshake
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
FQDN = "test.example.net"
CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'"
STEPS = ("web", "vhost", "tls")
WEB_CONF = "/etc/nginx/conf.d/00-vps-wizard.conf"
TLS_CONF = "/etc/nginx/conf.d/10-vps-wizard-tls.conf"
HTTPS_CONF = f"/etc/nginx/conf.d/vhost-{DOMAIN}-tls.conf"
SITE = f"/etc/nginx/snippets/vhost-{DOMAIN}.conf"
WELCOME = "/var/www/html/index.nginx-debian.html"
ANSWERS = f"""
[web]
server = "nginx"

[vhost]
domain = "{DOMAIN}"
canonical = "bare"
csp = "{CSP}"

[tls]
source = "self-signed"
"""


@dataclass
class HardenedHost:
    """A host with web, vhost and tls applied, and its laptop."""

    wizard: Wizard
    answers: Path

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host

    def reload(self, *commands: str) -> None:
        """Run the hand edits, then have nginx take them."""
        for command in commands:
            self.host.exec(command)
        self.host.exec("nginx -t -q && systemctl reload nginx")

    def apply(self, step: str, answers: Path | None = None) -> str:
        """Apply one step again with the module's answers (or others)."""
        return apply_ok(self.wizard, self.host.address, [step], answers or self.answers)


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HardenedHost]:
    """Base, the admin, then web, vhost and tls (self-signed) on nginx."""
    testhost = boot_free("vwh", range(240, 256))
    try:
        home = tmp_path_factory.mktemp("hardening-laptop")
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = home / "answers.toml"
        answers.write_text(QUICK.read_text() + ANSWERS)
        apply_ok(wizard, f"root@{testhost.address}", ["base", "admin-user", *STEPS], answers)
        yield HardenedHost(wizard, answers)
    finally:
        testhost.stop()


def test_every_check_is_ok_and_unknown_names_get_nothing(hardened):
    results = checks(hardened.wizard, *STEPS)
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    for cid in (
        "web.default_server",
        "web.no_welcome",
        "vhost.headers",
        "tls.default_server",
        "tls.compression",
    ):
        assert cid in results, results.keys()
    address = hardened.host.address
    # Port 80: nginx closes the connection (444) for an unknown name and for the bare address.
    assert http_get(address, UNKNOWN_NAME).error == "closed"
    assert http_get(address, address).error == "closed"
    assert "closed" in results["web.default_server"]["evidence"]
    # Port 443: the handshake is refused, so not even the site's certificate is seen.
    for name in (address, UNKNOWN_NAME):
        seen = handshake(address, name)
        assert seen.refused_by_server and not seen.leaf, seen
    assert handshake(address, DOMAIN).leaf, "the site itself must still answer"
    # The site's headers over HTTPS, the CSP exactly as answered; no compression.
    site = http_get(address, DOMAIN, https=True, extra_headers={"Accept-Encoding": "gzip"})
    assert site.status == 200
    assert site.values("Content-Security-Policy") == [CSP]
    assert site.values("X-Content-Type-Options") == ["nosniff"]
    assert site.values("Referrer-Policy") == ["strict-origin-when-cross-origin"]
    assert site.values("X-Frame-Options") == ["SAMEORIGIN"]
    assert not site.header("content-encoding")
    assert "Content-Encoding: (none)" in results["tls.compression"]["evidence"]
    # Debian's welcome page is gone from the server's own name.
    assert hardened.host.exec(f"test -e {WELCOME}", check=False).returncode != 0
    assert "Welcome to nginx" not in http_get(address, FQDN).text


def test_a_second_apply_changes_nothing(hardened):
    again = apply_ok(hardened.wizard, hardened.host.address, STEPS, hardened.answers)
    for step in STEPS:
        assert f"== {step}: nothing to change" in again, again


def test_debian_default_site_and_welcome_page_fail_the_web_checks_and_web_repairs(hardened):
    # As the web step found nginx before this change: Debian's default site enabled (the
    # default server, with its welcome page), and the server's own name listing that page.
    hardened.reload(
        f"cp /usr/share/nginx/html/index.html {WELCOME}",
        f"sed -i 's/ default_server//' {WEB_CONF}",
        f"sed -i 's/index index.php index.html;/index index.php index.html "
        f"index.nginx-debian.html;/' {WEB_CONF}",
        "ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default",
    )
    results = checks(hardened.wizard, "web")
    assert_fails(results["web.default_server"], "HTTP 200", "Welcome to nginx!", "default_server")
    assert_fails(results["web.no_welcome"], "Welcome to nginx!", "index.nginx-debian.html")
    hardened.apply("web")
    results = checks(hardened.wizard, "web")
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    assert hardened.host.exec(f"test -e {WELCOME}", check=False).returncode != 0
    default = hardened.host.exec("test -e /etc/nginx/sites-enabled/default", check=False)
    assert default.returncode != 0


def test_no_default_server_on_443_fails_and_tls_repairs(hardened):
    # Without it, nginx answers by address with the first HTTPS server: the site and its name.
    hardened.reload(f"sed -i '/^# Names no HTTPS server knows/,$d' {TLS_CONF}")
    result = checks(hardened.wizard, "tls")["tls.default_server"]
    assert_fails(result, "by address (no SNI)", f"names {DOMAIN}", "ssl_reject_handshake")
    hardened.apply("tls")
    result = checks(hardened.wizard, "tls")["tls.default_server"]
    assert result["status"] == "ok", result
    assert "handshake refused" in result["evidence"]


def test_gzip_back_on_https_fails_compression_and_tls_repairs(hardened):
    hardened.reload(f"sed -i '/gzip off;/d' {HTTPS_CONF}")
    result = checks(hardened.wizard, "tls")["tls.compression"]
    assert_fails(result, "compressed (gzip)", "BREACH", "gzip off")
    hardened.apply("tls")
    assert checks(hardened.wizard, "tls")["tls.compression"]["status"] == "ok"


def test_compression_chosen_is_a_reviewed_change_and_the_check_says_so(hardened, tmp_path):
    answers = tmp_path / "compress.toml"
    answers.write_text(hardened.answers.read_text() + "compress_https = true\n")
    hardened.apply("tls", answers)
    assert "gzip off;" not in hardened.host.exec(f"cat {HTTPS_CONF}").stdout
    result = checks(hardened.wizard, "tls")["tls.compression"]
    assert result["status"] == "ok", result
    assert "compressed (gzip)" in result["summary"]
    # Back to the default (an answer left out keeps the one stored by the last apply).
    answers.write_text(hardened.answers.read_text() + "compress_https = false\n")
    hardened.apply("tls", answers)
    assert "gzip off;" in hardened.host.exec(f"cat {HTTPS_CONF}").stdout
    result = checks(hardened.wizard, "tls")["tls.compression"]
    assert result["status"] == "ok" and "not compressed" in result["summary"], result


def test_headers_dropped_or_shadowed_fail_vhost_headers_and_vhost_repairs(hardened):
    hardened.reload(f"sed -i '/Referrer-Policy/d' {SITE}")
    result = checks(hardened.wizard, "vhost")["vhost.headers"]
    assert_fails(result, "Referrer-Policy missing", "vhost step again")
    hardened.apply("vhost")
    assert checks(hardened.wizard, "vhost")["vhost.headers"]["status"] == "ok"
    # nginx's trap: a location with an add_header of its own drops every server-level one.
    shadow = f"/etc/nginx/snippets/vhost-{DOMAIN}-https-zz-test.conf"
    try:
        hardened.reload(
            f"printf 'location = / {{\\n\\tadd_header X-Test 1;\\n\\ttry_files /index.html "
            f"=404;\\n}}\\n' > {shadow}"
        )
        result = checks(hardened.wizard, "vhost")["vhost.headers"]
        assert_fails(result, "X-Frame-Options missing", "location with add_header")
    finally:
        hardened.reload(f"rm -f {shadow}")
    assert checks(hardened.wizard, "vhost")["vhost.headers"]["status"] == "ok"


def test_apache_gives_unknown_names_403_and_a_certificate_naming_no_site(
    fresh_testhost, wizard_factory, tmp_path
):
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    answers = tmp_path / "apache.toml"
    answers.write_text(QUICK.read_text() + ANSWERS.replace('"nginx"', '"apache"'))
    apply_ok(wizard, f"root@{fresh_testhost.address}", ["base", "admin-user", *STEPS], answers)
    results = checks(wizard, *STEPS)
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    assert "HTTP 403" in results["web.default_server"]["evidence"]
    assert "default.vps-wizard.invalid" in results["tls.default_server"]["evidence"]
    assert "HTTP 403" in results["tls.default_server"]["evidence"]
    assert "Content-Encoding: (none)" in results["tls.compression"]["evidence"]
    assert CSP in results["vhost.headers"]["evidence"]
    host = fresh_testhost
    assert "000-default" not in host.exec("ls /etc/apache2/sites-enabled").stdout

    # Hand edits: the default virtual hosts of both ports gone, Debian's welcome page back.
    host.exec(
        "sed -i '/^# Names no virtual host knows/,/^<\\/VirtualHost>/d' "
        "/etc/apache2/conf-available/vps-wizard.conf"
    )
    host.exec(
        "sed -i '/^# Names no HTTPS virtual host knows/,$d' "
        "/etc/apache2/conf-available/vps-wizard-tls.conf"
    )
    host.exec("cp /usr/share/apache2/default-site/index.html /var/www/html/index.html")
    host.exec("apache2ctl -t && systemctl reload apache2")
    results = checks(wizard, "web", "tls")
    assert_fails(results["web.default_server"], "HTTP 200", "apache2ctl -S")
    assert_fails(results["web.no_welcome"], "Apache2 Debian Default Page")
    assert_fails(results["tls.default_server"], f"names {DOMAIN}")

    apply_ok(wizard, host.address, ["web", "tls"], answers)
    results = checks(wizard, *STEPS)
    assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(results, "ok")
    assert host.exec("test -e /var/www/html/index.html", check=False).returncode != 0
