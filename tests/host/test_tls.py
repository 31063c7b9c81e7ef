"""The tls and hsts steps end to end on a real Debian 12 host, with a real ACME CA: Pebble runs
inside the host and validates http-01 through the host's own BIND, authoritative for the test
domain. Every check ok, then each failing, with its hint, when the thing it watches is broken.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.host.acme import DOMAIN, HSTS_CHECKS, PEBBLE, TLS_CHECKS, answers_text, start_acme_ca
from tests.host.fixtures import boot_free
from tests.host.harness import Wizard, apply_ok, assert_fails, checks
from tests.host.hostile import assert_no_payload_ran, payload, toml_string
from wizard.testhost.machine import TestHost

pytestmark = pytest.mark.host
LIVE = f"/etc/ssl/vps-wizard/{DOMAIN}"
# The ACME account's address: valid (parse_email takes it), full of what a shell would run.
# Not '#' nor '?', though valid: an ACME contact is a mailto: URI, and Pebble refuses an
# address holding either ("invalid email address"), so the apply would fail at certbot.
EMAIL = f"o'brien`{payload('tls')}`|{{x}}&y!%*+=^~@{DOMAIN}"


@dataclass
class TlsHost:
    """A host with everything up to hsts applied, and its laptop."""

    wizard: Wizard
    answers: Path
    tls_apply: str

    @property
    def host(self) -> TestHost:
        """The machine."""
        return self.wizard.host


def make_host(prefix: str, slots: range, server: str, home: Path) -> TlsHost:
    """Boot, apply day one, web and vhost, start the CA, apply tls and hsts."""
    testhost = boot_free(prefix, slots)
    try:
        wizard = Wizard(testhost, home)
        wizard.trust_host()
        answers = home / "answers.toml"
        answers.write_text(hostile_email(answers_text(server)))
        steps = ["base", "admin-user", "ssh-hardening", "firewall", "web", "vhost"]
        apply_ok(wizard, f"root@{testhost.address}", steps, answers)
        start_acme_ca(testhost)
        output = apply_ok(wizard, testhost.address, ["tls", "hsts"], answers)
        return TlsHost(wizard, answers, output)
    except BaseException:
        testhost.stop()
        raise


def hostile_email(text: str) -> str:
    """The answers with the tls step's e-mail address replaced by EMAIL."""
    plain = f'email = "admin@{DOMAIN}"\n'
    assert plain in text
    return text.replace(plain, f"email = {toml_string(EMAIL)}\n")


@pytest.fixture(scope="module")
def tls_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHost]:
    """nginx with a Pebble certificate."""
    made = make_host("vwt", range(144, 160), "nginx", tmp_path_factory.mktemp("tls-laptop"))
    try:
        yield made
    finally:
        made.host.stop()


def test_every_tls_and_hsts_check_is_ok(tls_host):
    results = checks(tls_host.wizard, "tls", "hsts", "vhost")
    statuses = {cid: r["status"] for cid, r in results.items()}
    assert statuses == dict.fromkeys((*TLS_CHECKS, *HSTS_CHECKS, *statuses), "ok"), results
    assert "Pebble" in results["tls.certificate"]["evidence"]
    for rule in ("redirect to https on the same host first", "www answers over TLS"):
        assert f"{rule}: ok" in results["hsts.preload"]["evidence"]
    # Port 443 was opened by the firewall, applied again after tls.
    rules = tls_host.host.exec("nft list table inet vpswizard").stdout
    assert "443" in rules


def test_the_hostile_address_reached_the_ca_literally_and_ran_nothing(tls_host):
    """The ACME account registered with the address exactly as answered: it went to certbot as
    one word, and no part of it ran on the server."""
    host = tls_host.host
    # certbot keeps no contact locally (regr.json's body is empty): ask Pebble for the account.
    shown = host.exec(
        f"REQUESTS_CA_BUNDLE={PEBBLE}/tls-ca.pem certbot show_account "
        "--server https://localhost:14000/dir 2>&1"
    ).stdout
    assert f"  Email contact: {EMAIL}\n" in shown, shown
    assert_no_payload_ran(host)


def test_a_second_apply_changes_nothing(tls_host):
    again = apply_ok(tls_host.wizard, tls_host.host.address, ["tls", "hsts"], tls_host.answers)
    assert "== tls: nothing to change" in again, again
    assert "== hsts: nothing to change" in again, again


def test_tls_1_0_re_enabled_fails_tls_protocols(tls_host):
    host = tls_host.host
    conf = "/etc/nginx/conf.d/10-vps-wizard-tls.conf"
    host.exec(f"cp -a {conf} /root/tls.conf.bak")
    try:
        host.exec(
            f"sed -i 's/^ssl_protocols .*/ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;/; "
            f"s/^ssl_ciphers .*/ssl_ciphers DEFAULT:@SECLEVEL=0;/; "
            f"s/^ssl_ecdh_curve .*/ssl_ecdh_curve X25519:prime256v1:secp384r1:X448:secp521r1;/' "
            f"{conf} && systemctl reload nginx"
        )
        results = checks(tls_host.wizard, "tls")
        assert_fails(results["tls.protocols"], "TLS 1.0 accepted", "ssl_protocols")
        # The scan names each thing accepted outside Mozilla intermediate, not only versions.
        profile = results["tls.profile"]
        assert_fails(profile, "port 443 accepts", "TLS 1.0", "ECDHE-ECDSA-AES128-SHA", "X448")
        assert "P-521" in profile["summary"] and "ssl_ecdh_curve" in profile["hint"], profile
    finally:
        host.exec(f"cp -a /root/tls.conf.bak {conf} && systemctl reload nginx")


def test_hsts_header_removed_or_duplicated_fails_hsts_header(tls_host):
    host = tls_host.host
    snippet = f"/etc/nginx/snippets/vhost-{DOMAIN}-https-hsts.conf"
    host.exec(f"cp -a {snippet} /root/hsts.bak")
    try:
        host.exec(f"echo '# removed' > {snippet} && systemctl reload nginx")
        results = checks(tls_host.wizard, "hsts")
        assert_fails(results["hsts.header"], "no Strict-Transport-Security header")
        assert_fails(results["hsts.preload"], "one header with max-age")
        host.exec(
            f"cp -a /root/hsts.bak {snippet} && "
            f"echo 'add_header Strict-Transport-Security \"max-age=600\" always;' >> {snippet} "
            "&& systemctl reload nginx"
        )
        assert_fails(checks(tls_host.wizard, "hsts")["hsts.header"], "2 Strict-Transport")
    finally:
        host.exec(f"cp -a /root/hsts.bak {snippet} && systemctl reload nginx")


def test_redirect_to_www_first_fails_the_preload_rule_by_name(tls_host):
    host = tls_host.host
    hook = f"/etc/nginx/snippets/vhost-{DOMAIN}-http-tls.conf"
    host.exec(f"cp -a {hook} /root/hook.bak")
    try:
        host.exec(
            f"sed -i 's#^return 301 .*#return 301 https://www.{DOMAIN}$request_uri;#' {hook} "
            "&& systemctl reload nginx"
        )
        results = checks(tls_host.wizard, "tls", "hsts")
        assert_fails(
            results["hsts.preload"],
            "redirect to https on the same host first",
            "to www first",
        )
        assert_fails(results["tls.redirect"], f"http://{DOMAIN}")
    finally:
        host.exec(f"cp -a /root/hook.bak {hook} && systemctl reload nginx")


TLS_CONF = "/etc/nginx/conf.d/10-vps-wizard-tls.conf"
HTTPS_CONF = f"/etc/nginx/conf.d/vhost-{DOMAIN}-tls.conf"
HTTP_HOOK = f"/etc/nginx/snippets/vhost-{DOMAIN}-http-tls.conf"
HSTS_SNIPPET = f"/etc/nginx/snippets/vhost-{DOMAIN}-https-hsts.conf"


def test_non_forward_secret_ciphers_fail_tls_ciphers(tls_host):
    """RSA key exchange needs an RSA certificate: with the step's ECDSA one, RSA-kx suites in
    ssl_ciphers cannot be negotiated and the check (which judges what a client gets) stays ok;
    with an RSA certificate served they are, and it fails."""
    host = tls_host.host
    assert (
        "id-ecPublicKey" in host.exec(f"openssl x509 -noout -text -in {LIVE}/fullchain.pem").stdout
    )
    host.exec(
        f"cp -a {TLS_CONF} /root/ciphers.bak && "
        f"rm -rf /root/live.bak && cp -a {LIVE} /root/live.bak"
    )
    try:
        host.exec(
            f"sed -i 's/^ssl_ciphers \\(.*\\);/ssl_ciphers \\1:AES256-GCM-SHA384:AES128-SHA256;/' "
            f"{TLS_CONF} && grep -q 'AES128-SHA256;' {TLS_CONF} && systemctl reload nginx"
        )
        assert checks(tls_host.wizard, "tls")["tls.ciphers"]["status"] == "ok"
        cert, key = rsa_pair()
        host.exec(f"rm -f {LIVE}/fullchain.pem && cat > {LIVE}/fullchain.pem", input=cert.decode())
        host.exec(f"rm -f {LIVE}/privkey.pem && cat > {LIVE}/privkey.pem", input=key.decode())
        host.exec("systemctl reload nginx")
        result = checks(tls_host.wizard, "tls")["tls.ciphers"]
        assert_fails(result, "AES256-GCM-SHA384", "without forward secrecy", "ECDHE only")
    finally:
        host.exec(
            f"cp -a /root/ciphers.bak {TLS_CONF} && rm -rf {LIVE} && cp -a /root/live.bak {LIVE} "
            "&& systemctl reload nginx"
        )
    assert checks(tls_host.wizard, "tls")["tls.ciphers"]["status"] == "ok"


def test_http2_off_fails_tls_alpn_h2_and_the_step_puts_it_back(tls_host):
    host = tls_host.host
    host.exec(f"sed -i 's/ ssl http2;/ ssl;/' {HTTPS_CONF} && systemctl reload nginx")
    assert_fails(checks(tls_host.wizard, "tls")["tls.alpn_h2"], "does not offer HTTP/2", "http2")
    apply_ok(tls_host.wizard, host.address, ["tls"], tls_host.answers)
    assert checks(tls_host.wizard, "tls")["tls.alpn_h2"]["status"] == "ok"


def test_http_served_without_redirect_fails_tls_redirect(tls_host):
    host = tls_host.host
    host.exec(f"cp -a {HTTP_HOOK} /root/hook.bak")
    try:
        host.exec(f"echo '# no redirect' > {HTTP_HOOK} && systemctl reload nginx")
        result = checks(tls_host.wizard, "tls")["tls.redirect"]
        assert_fails(result, f"http://{DOMAIN} does not redirect (301)", ": HTTP 404", "301")
    finally:
        host.exec(f"cp -a /root/hook.bak {HTTP_HOOK} && systemctl reload nginx")


def test_certbot_timer_off_fails_tls_renewal_and_the_step_turns_it_on(tls_host):
    host = tls_host.host
    host.exec("systemctl disable --now certbot.timer")
    result = checks(tls_host.wizard, "tls")["tls.renewal"]
    assert_fails(result, "timer is not active and enabled", "inactive", "enable --now")
    apply_ok(tls_host.wizard, host.address, ["tls"], tls_host.answers)
    assert host.exec("systemctl is-enabled certbot.timer").stdout.strip() == "enabled"
    assert checks(tls_host.wizard, "tls")["tls.renewal"]["status"] == "ok"


def test_short_hsts_max_age_fails_hsts_header_and_the_step_restores_it(tls_host):
    host = tls_host.host
    host.exec(f"sed -i 's/max-age=[0-9]*/max-age=300/' {HSTS_SNIPPET} && systemctl reload nginx")
    results = checks(tls_host.wizard, "hsts")
    assert_fails(results["hsts.header"], "max-age is 300, under 63072000", "hsts")
    apply_ok(tls_host.wizard, host.address, ["hsts"], tls_host.answers)
    assert checks(tls_host.wizard, "hsts")["hsts.header"]["status"] == "ok"


def rsa_pair() -> tuple[bytes, bytes]:
    """A self-signed RSA certificate for the domain and www, and its key (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return sign_pair(key, 0, 90)


def pem_pair(days_from: int, days_to: int) -> tuple[bytes, bytes]:
    """A self-signed ECDSA certificate for the domain and www, valid between the two day
    offsets, and its key (PEM)."""
    return sign_pair(ec.generate_private_key(ec.SECP256R1()), days_from, days_to)


def sign_pair(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, days_from: int, days_to: int
) -> tuple[bytes, bytes]:
    """A self-signed certificate of `key` for the domain and www, and the key (PEM)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days_from))
        .not_valid_after(now + datetime.timedelta(days=days_to))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(DOMAIN), x509.DNSName(f"www.{DOMAIN}")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_expired_and_mismatched_certificates_fail_tls_certificate(tls_host):
    host = tls_host.host
    host.exec(f"rm -rf /root/live.bak && cp -a {LIVE} /root/live.bak")
    try:
        cert, key = pem_pair(-400, -10)
        host.exec(f"rm -f {LIVE}/fullchain.pem && cat > {LIVE}/fullchain.pem", input=cert.decode())
        host.exec(f"rm -f {LIVE}/privkey.pem && cat > {LIVE}/privkey.pem", input=key.decode())
        host.exec("systemctl reload nginx")
        assert_fails(checks(tls_host.wizard, "tls")["tls.certificate"], "has expired", "renew")
        # A key from another pair: nginx would refuse it, so only the files are compared.
        _, other_key = pem_pair(-1, 90)
        host.exec(f"cat > {LIVE}/privkey.pem", input=other_key.decode())
        result = checks(tls_host.wizard, "tls")["tls.certificate"]
        assert_fails(result, "private key does not match", "key file: mismatch")
    finally:
        host.exec(f"rm -rf {LIVE} && cp -a /root/live.bak {LIVE} && systemctl reload nginx")
    assert checks(tls_host.wizard, "tls")["tls.certificate"]["status"] == "ok"


def test_apache_reaches_every_tls_check_ok(tmp_path):
    made = make_host("vwa", range(160, 176), "apache", tmp_path)
    try:
        results = checks(made.wizard, "tls", "hsts")
        assert {cid: r["status"] for cid, r in results.items()} == dict.fromkeys(
            (*TLS_CHECKS, *HSTS_CHECKS), "ok"
        ), results
    finally:
        made.host.stop()
