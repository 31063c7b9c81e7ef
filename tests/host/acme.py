"""A private ACME CA inside a test host, for the tls and hsts steps: BIND authoritative for the
test domain and Pebble validating http-01 through it. Shared by test_tls and test_tui_web."""

from __future__ import annotations

import json
from pathlib import Path

from wizard.testhost.machine import TestHost

QUICK = Path(__file__).parent / "quick.toml"
DOMAIN = "example.net"
PEBBLE = "/etc/pebble-test"
TLS_CHECKS = (
    "tls.certificate",
    "tls.protocols",
    "tls.ciphers",
    "tls.profile",
    "tls.alpn_h2",
    "tls.redirect",
    "tls.default_server",
    "tls.compression",
    "tls.renewal",
)
HSTS_CHECKS = ("hsts.header", "hsts.preload")


def answers_text(server: str) -> str:
    """Day one (quick), web, vhost, tls from the Pebble inside the host, hsts."""
    return QUICK.read_text() + (
        f'\n[web]\nserver = "{server}"\n\n[vhost]\ndomain = "{DOMAIN}"\ncanonical = "bare"\n\n'
        f'[tls]\nsource = "acme"\nacme_server = "https://localhost:14000/dir"\n'
        f'email = "admin@{DOMAIN}"\nacme_ca_bundle = "{PEBBLE}/tls-ca.pem"\n'
        f'ca_file = "{PEBBLE}/root.pem"\n\n[hsts]\n'
    )


def start_acme_ca(host: TestHost) -> None:
    """BIND with a zone for the test domain (both names at the host's address) and Pebble,
    validating on ports 80/443 and resolving through that BIND; its issuing root is saved
    where the step's ca_file answer points, its own HTTPS CA where acme_ca_bundle does."""
    address = host.address
    zone = (
        f"$TTL 60\n@ IN SOA ns.{DOMAIN}. hostmaster.{DOMAIN}. 1 60 60 600 60\n"
        f"@ IN NS ns.{DOMAIN}.\n"
        f"@ IN A {address}\nwww IN A {address}\nns IN A {address}\n"
    )
    host.exec("apt-get -o DPkg::Lock::Timeout=600 -q -y install pebble bind9 >/dev/null 2>&1")
    host.exec(f"cat > /etc/bind/db.{DOMAIN}", input=zone)
    host.exec(
        f'echo \'zone "{DOMAIN}" {{ type master; file "/etc/bind/db.{DOMAIN}"; }};\' '
        ">> /etc/bind/named.conf.local && systemctl restart named"
    )
    start_pebble(host)


def start_pebble(host: TestHost) -> None:
    """Pebble alone, validating on ports 80/443 and resolving through the host's BIND on
    127.0.0.1:53 (the dns-zone step's, authoritative for the test domain, suits it); its
    issuing root is saved where the tls step's ca_file answer points, its own HTTPS CA where
    acme_ca_bundle does."""
    host.exec("apt-get -o DPkg::Lock::Timeout=600 -q -y install pebble >/dev/null 2>&1")
    host.exec(
        f"mkdir -p {PEBBLE} && cd {PEBBLE} && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 "
        "-subj /CN=pebble-test-ca -keyout tls-ca.key -out tls-ca.pem 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
        "-keyout key.pem -out req.pem 2>/dev/null && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
        "openssl x509 -req -in req.pem -CA tls-ca.pem -CAkey tls-ca.key -CAcreateserial "
        "-days 30 -extfile ext -out cert.pem 2>/dev/null"
    )
    config = {
        "pebble": {
            "listenAddress": "127.0.0.1:14000",
            "managementListenAddress": "127.0.0.1:15000",
            "certificate": f"{PEBBLE}/cert.pem",
            "privateKey": f"{PEBBLE}/key.pem",
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    host.exec(f"cat > {PEBBLE}/config.json", input=json.dumps(config))
    host.exec(
        "systemd-run --unit=pebble-test -E PEBBLE_VA_NOSLEEP=1 -E PEBBLE_WFE_NONCEREJECT=0 "
        f"/usr/bin/pebble -config {PEBBLE}/config.json -dnsserver 127.0.0.1:53"
    )
    # The issuing root is made at each start of Pebble: only its management API knows it.
    fetch = (
        "import ssl, sys, time, urllib.request\n"
        f"context = ssl.create_default_context(cafile='{PEBBLE}/tls-ca.pem')\n"
        "for _ in range(50):\n"
        "    try:\n"
        "        url = 'https://localhost:15000/roots/0'\n"
        "        sys.stdout.write(urllib.request.urlopen(url, context=context).read().decode())\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.2)\n"
    )
    host.exec(f"python3 - > {PEBBLE}/root.pem", input=fetch)
    host.exec(f"grep -q 'BEGIN CERTIFICATE' {PEBBLE}/root.pem")
