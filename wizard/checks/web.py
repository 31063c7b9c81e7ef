"""Checks of the web step: the web server on the server, and PHP-FPM seen over HTTP from outside.

The HTTP requests go from the wizard's machine to the server's address with the site's name in
the Host header (wizard/probes/http.py), the way a site is tested before its DNS points to the
server: no name needs to resolve.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    exit_code,
    fail,
    marker,
    ok,
    run_sections,
)
from wizard.checks.params import safe_path
from wizard.checks.verdicts import http_problem
from wizard.probes.http import UNKNOWN_NAME, HttpAnswer, described, http_get
from wizard.probes.sshconfig import server_host
from wizard.shell import Shell, code, heredoc, script, sh
from wizard.transient import remove_after

RERUN_WEB = "run the web step again"
NOT_FOUND = 127  # the shell's exit status for "command not found"

# ----------------------------------------------------------------------------- web.service

SERVICE_UNITS = {"nginx": "nginx", "apache": "apache2"}


def service_script(server: str) -> Shell:
    """One round trip: the unit's state, the config test, and the HTTP/2-readiness facts."""
    unit = SERVICE_UNITS[server]
    if server == "nginx":
        test = code("nginx -t 2>&1")
        features = code("nginx -V 2>&1 | tr ' ' '\\n' | grep -E '^--with-http_v2_module'")
    else:
        test = code("apache2ctl configtest 2>&1")
        features = code("apache2ctl -V 2>&1 | grep 'Server MPM'; apache2ctl -M 2>/dev/null")
    return script(
        marker("ACTIVE"),
        sh("systemctl is-active {unit} 2>&1", unit=unit),
        marker("ENABLED"),
        sh("systemctl is-enabled {unit} 2>&1", unit=unit),
        marker("TEST"),
        test,
        code("rc=$?"),
        marker("RC"),
        code('echo "$rc"'),
        marker("FEATURES"),
        features,
        code("true"),
    )


def last_line(text: str) -> str:
    """The last non-empty line (systemctl may print warnings before its answer)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def judge_service(
    server: str, active: str, enabled: str, test_output: str, test_rc: int, features: str
) -> CheckResult:
    """The web server runs, starts at boot, its configuration passes its own test, and it is
    ready for HTTP/2 (Apache: with MPM event and proxy_fcgi)."""
    cid = "web.service"
    unit = SERVICE_UNITS.get(server, server)
    test_name = "nginx -t" if server == "nginx" else "apache2ctl configtest"
    active, enabled = last_line(active) or "(unknown)", last_line(enabled) or "(unknown)"
    test_lines = [line for line in test_output.strip().splitlines() if line.strip()]
    evidence = "\n".join(
        [
            f"{unit}: {active}, {enabled} at boot",
            f"{test_name} exited {test_rc}: " + " / ".join(test_lines[-3:]),
            *[line.strip() for line in features.splitlines() if _feature_line(line)],
        ]
    )
    if test_rc == NOT_FOUND:
        return fail(cid, f"{unit} is not installed", evidence, f"{RERUN_WEB}: it installs {unit}")
    if test_rc != 0:
        return fail(
            cid,
            f"the {unit} configuration does not pass {test_name}",
            evidence,
            f"the output names the file and line; fix it or run the step that wrote it again "
            f"(web, vhost), then sudo systemctl reload {unit}",
        )
    if active != "active":
        return fail(
            cid,
            f"{unit} is {active}, not running",
            evidence,
            f"sudo systemctl start {unit}; if it fails, sudo journalctl -u {unit} -n 20 says why",
        )
    if enabled != "enabled":
        return fail(
            cid,
            f"{unit} does not start at boot ({enabled})",
            evidence,
            f"sudo systemctl enable {unit}",
        )
    if server == "nginx":
        if "--with-http_v2_module" not in features:
            return fail(
                cid,
                "this nginx is built without HTTP/2",
                evidence,
                "install the distribution's nginx package (apt-get install nginx)",
            )
        return ok(cid, "nginx runs, its configuration is valid and it is HTTP/2-ready", evidence)
    mpm = re.search(r"Server MPM:\s*(\w+)", features)
    missing = [m for m in ("http2_module", "proxy_fcgi_module") if m not in features]
    if not mpm or mpm.group(1).lower() != "event":
        return fail(
            cid,
            f"Apache runs with MPM {mpm.group(1) if mpm else '(unknown)'}, not event",
            evidence,
            "mod_php forces MPM prefork: sudo a2dismod php* mpm_prefork && sudo a2enmod "
            "mpm_event && sudo systemctl restart apache2, or run the web step again",
        )
    if missing:
        return fail(
            cid,
            "Apache lacks " + ", ".join(missing),
            evidence,
            f"{RERUN_WEB}, or: sudo a2enmod http2 proxy_fcgi && sudo systemctl restart apache2",
        )
    return ok(cid, "Apache runs with MPM event, HTTP/2-ready, its configuration valid", evidence)


def _feature_line(line: str) -> bool:
    """The lines of nginx -V / apache2ctl -V -M worth showing as evidence."""
    return any(key in line for key in ("http_v2", "Server MPM", "http2_module", "proxy_fcgi"))


@check("web.service")
def service_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """nginx (or apache2) is running and enabled, and its configuration test passes."""
    server = str(params["server"])
    if server not in SERVICE_UNITS:
        return fail("web.service", f"unknown web server '{server}'", hint="a step bug")
    sections = run_sections(ctx, service_script(server))
    return judge_service(
        server,
        sections.get("ACTIVE", ""),
        sections.get("ENABLED", ""),
        sections.get("TEST", ""),
        exit_code(sections.get("RC", "")),
        sections.get("FEATURES", ""),
    )


# ----------------------------------------------------------------------------- web.php

PROBE_SETTINGS = ("memory_limit", "upload_max_filesize", "post_max_size")
# Removes the probe by itself should the wizard never get to it (a dropped link).
PROBE_LIFETIME = 120

PROBE_PHP = """<?php
header('Content-Type: text/plain');
$o = function_exists('opcache_get_status') ? @opcache_get_status(false) : false;
echo 'token=', hash('sha256', 'vps-wizard:TOKEN'), "\\n";
echo 'sapi=', PHP_SAPI, "\\n";
echo 'version=', PHP_VERSION, "\\n";
foreach (['memory_limit', 'upload_max_filesize', 'post_max_size', 'expose_php'] as $k) {
    echo $k, '=', ini_get($k), "\\n";
}
echo 'opcache=', ($o && !empty($o['opcache_enabled'])) ? 'on' : 'off', "\\n";
"""


def probe_source(token: str) -> str:
    """The probe page: it proves PHP ran by printing a hash of the token, not the token."""
    return PROBE_PHP.replace("TOKEN", token)


def probe_proof(token: str) -> str:
    """What the probe prints when PHP really executed it."""
    return hashlib.sha256(f"vps-wizard:{token}".encode()).hexdigest()


def write_probe_script(path: str, token: str) -> Shell:
    """Write the probe readable by the web server, and arm its removal as a safety net."""
    return script(
        code("umask 022"),
        heredoc(sh("base64 -d > {path}", path=path), probe_source(token).encode()),
        sh("chmod 0644 {path} || exit 1", path=path),
        remove_after(path, PROBE_LIFETIME),
    )


def probe_values(text: str) -> dict[str, str]:
    """The probe's `key=value` lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[a-z_]+", key):
            values[key] = value.strip()
    return values


def judge_php(
    answer: HttpAnswer, proof: str, expected: Mapping[str, str], fpm: str = "php-fpm"
) -> CheckResult:
    """The probe page ran through PHP-FPM, with the step's limits, expose_php off, OPcache on."""
    cid = "web.php"
    values = probe_values(answer.text) if answer.status == 200 else {}
    shown = [f"{k}: {values[k]}" for k in ("version", "sapi", *PROBE_SETTINGS) if k in values]
    if "expose_php" in values:
        shown.append(f"expose_php: {values['expose_php'] or 'Off'}")
    if "opcache" in values:
        shown.append(f"OPcache: {values['opcache']}")
    if answer.header("x-powered-by"):
        shown.append(f"X-Powered-By: {answer.header('x-powered-by')}")
    evidence = "\n".join([answer.summary(), *shown])
    if answer.error:
        return http_problem(cid, answer, "the PHP probe got no answer", evidence)
    if answer.status in (502, 503, 504):
        return fail(
            cid,
            f"the web server answers {answer.status}: PHP-FPM does not answer it",
            evidence,
            f"sudo systemctl restart {fpm}; sudo journalctl -u {fpm} -n 20 says why it stopped",
        )
    if answer.status != 200:
        return fail(
            cid,
            f"the PHP probe answered HTTP {answer.status}, not 200",
            evidence,
            f"{RERUN_WEB}: the server block for the server's own name serves /var/www/html "
            "with PHP (nginx: /etc/nginx/conf.d/00-vps-wizard.conf)",
        )
    if "<?php" in answer.text:
        return fail(
            cid,
            "the PHP source is served as text: .php files do not reach PHP-FPM",
            evidence,
            f"{RERUN_WEB}: it passes .php to PHP-FPM (nginx: snippets/vps-wizard-php.conf; "
            "Apache: conf-enabled/vps-wizard.conf)",
        )
    if values.get("token") != proof:
        return fail(
            cid,
            "the answer is not the probe's: another page or a cache answered",
            evidence,
            "a proxy or cache in front of the server may answer for it; look at the web "
            "server's access log (sudo tail /var/log/nginx/access.log)",
        )
    problems = []
    if values.get("sapi") != "fpm-fcgi":
        problems.append(f"PHP runs as '{values.get('sapi', '?')}', not PHP-FPM")
    wrong = [
        f"{key} is {values.get(key, '(unset)')}, not {value}"
        for key, value in expected.items()
        if values.get(key) != value
    ]
    problems += wrong
    if values.get("expose_php", "") not in ("", "0") or answer.header("x-powered-by"):
        problems.append("expose_php is on (the version leaks in X-Powered-By)")
    if values.get("opcache") != "on":
        problems.append("OPcache is off")
    if problems:
        return fail(
            cid,
            "; ".join(problems),
            evidence,
            f"{RERUN_WEB}: it writes /etc/php/*/fpm/conf.d/90-vps-wizard.ini; a file sorting "
            f"after it there may override a value (grep -r the setting), then sudo systemctl "
            f"reload {fpm}",
        )
    return ok(
        cid,
        f"PHP {values.get('version', '')} runs through PHP-FPM with OPcache on".replace("  ", " "),
        evidence,
    )


@check("web.php")
def php_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """A one-time probe page, fetched over HTTP from the outside, runs through PHP-FPM."""
    root, host = str(params["root"]), str(params["host"])
    if not safe_path(root):
        return fail("web.php", f"'{root}' is not a web root path", hint="a step bug")
    token = secrets.token_hex(16)
    path = f"{root}/vw-probe-{token}.php"
    written = ctx.remote.run(write_probe_script(path, token))
    if not written.ok:
        return fail(
            "web.php",
            f"could not write the probe page into {root}",
            (written.stdout + written.stderr).strip()[-500:],
            f"{RERUN_WEB}: it creates {root}",
        )
    try:
        answer = http_get(
            server_host(ctx.address), host, f"/vw-probe-{token}.php", int(params.get("port", 80))
        )
    finally:
        ctx.remote.run(sh("rm -f {path}", path=path))
    expected = {key: str(params[key]) for key in PROBE_SETTINGS if key in params}
    return judge_php(answer, probe_proof(token), expected, str(params.get("fpm", "php-fpm")))


# ----------------------------------------------------------------------------- web.default_server


def judge_default_server(server: str, answers: Sequence[HttpAnswer]) -> CheckResult:
    """Requests for an unknown name, and by bare address, get no site: the connection closed
    (nginx's 444) or a 4xx error; a page or a redirect to a site fails."""
    cid = "web.default_server"
    evidence = "\n".join(described(answer) for answer in answers)
    for answer in answers:
        if answer.error and answer.error != "closed":
            return http_problem(cid, answer, "port 80 gave no answer", evidence)
    served = [a for a in answers if not a.error and not 400 <= a.status < 500]
    if served:
        where = served[0].where.split(" at ")[0].removeprefix("GET ")
        fix = (
            "nginx: /etc/nginx/conf.d/00-vps-wizard.conf holds the default server (return 444); "
            "another server block with default_server, or Debian's sites-enabled/default, takes "
            "its place (sudo nginx -T | grep default_server)"
            if server == "nginx"
            else "Apache: the first virtual host of port 80 (conf-enabled/vps-wizard.conf) "
            "answers 403; Debian's 000-default site or another one comes first "
            "(sudo apache2ctl -S lists them in order)"
        )
        return fail(
            cid,
            f"{where} answers HTTP {served[0].status}: a name the server does not know gets a site",
            evidence,
            f"{RERUN_WEB}. {fix}. Scanners reach servers by address and by made-up names: they "
            "should learn nothing",
        )
    return ok(cid, "unknown names and the bare address get no site on port 80", evidence)


@check("web.default_server")
def default_server_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, port 80 with an unknown name and with the bare address serves no site."""
    address = server_host(ctx.address)
    answers = [http_get(address, UNKNOWN_NAME), http_get(address, address)]
    return judge_default_server(str(params.get("server", "nginx")), answers)


# ----------------------------------------------------------------------------- web.no_welcome

# What the distributions' welcome pages say (nginx's, Apache's on Debian and on Ubuntu).
WELCOME_MARKERS = (
    "Welcome to nginx!",
    "Apache2 Debian Default Page",
    "Apache2 Ubuntu Default Page",
)


def judge_no_welcome(host: str, answer: HttpAnswer) -> CheckResult:
    """The server's own name does not serve the distribution's welcome page."""
    cid = "web.no_welcome"
    evidence = described(answer)
    if answer.error:
        return http_problem(cid, answer, f"{host} got no answer on port 80", evidence)
    found = [marker for marker in WELCOME_MARKERS if marker in answer.text]
    if found:
        return fail(
            cid,
            f"http://{host}/ serves the distribution's welcome page ({found[0]})",
            evidence,
            f"{RERUN_WEB}: it removes /var/www/html/index.nginx-debian.html (Apache: the "
            "Debian index.html) and serves no welcome page; it tells scanners which server "
            "runs here and that nobody configured it",
        )
    return ok(cid, f"http://{host}/ serves no welcome page (HTTP {answer.status})", evidence)


@check("web.no_welcome")
def no_welcome_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, http://FQDN/ is not the distribution's welcome page."""
    host = str(params["host"])
    return judge_no_welcome(host, http_get(server_host(ctx.address), host))
