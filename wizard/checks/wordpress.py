"""Checks of the wordpress step: the site's PHP answers over HTTPS, the database user holds
its own database and nothing else, PHP cannot write the code, and xmlrpc.php is blocked (or
open, as chosen).

The HTTPS checks connect to the server's address from the wizard's machine with the site's
name in the Host header and SNI, as the vhost checks do: no DNS record is needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wizard.checks.base import CheckContext, CheckResult, check, fail, marker, ok, run_sections
from wizard.checks.params import safe_path
from wizard.checks.verdicts import http_problem
from wizard.probes.http import HttpAnswer, http_get, page_title
from wizard.probes.sshconfig import server_host
from wizard.shell import Shell, code, script, sh
from wizard.visible import visible

RERUN = "apply the wordpress step again"
INSTALL_PAGE = "/wp-admin/install.php"
XMLRPC = "/xmlrpc.php"
# The step's answers match these; anything else never reaches a server command.
MARIADB_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
PHP_VERSION = re.compile(r"[0-9]+\.[0-9]+")
# What WordPress's xmlrpc.php says to a GET (with HTTP 405).
XMLRPC_GET_ANSWER = "XML-RPC server accepts POST requests only."
# Uploads are the one tree PHP may write.
UPLOADS = "/var/lib/wordpress/wp-content/uploads"
CODE_TREES = ("/usr/share/wordpress", "/var/lib/wordpress", "/etc/wordpress")
SHOWN = 10
# SHOW GRANTS prints the password's hash on the USAGE line: never shown.
PASSWORD_HASH = re.compile(r"(IDENTIFIED (?:BY PASSWORD|VIA \S+ USING)) '[^']*'")


# ----------------------------------------------------------------------------- wordpress.https


def judge_https(host: str, answer: HttpAnswer) -> CheckResult:
    """The installer (or its "already installed" page) is PHP's answer: 200 with a page that
    names WordPress; not the PHP source, not a 502 from a PHP-FPM that is down."""
    cid = "wordpress.https"
    title = page_title(answer)
    evidence = answer.summary() + (
        f"\n{len(answer.body)} bytes" + (f", title: {visible(title)}" if title else "")
        if not answer.error
        else ""
    )
    text = answer.text
    if answer.error:
        return http_problem(cid, answer, f"{host} got no answer over HTTPS", evidence)
    if "<?php" in text:
        return fail(
            cid,
            f"{host} sends WordPress's PHP source instead of running it",
            evidence,
            "the web server does not hand .php to PHP-FPM: apply the web step again (its "
            f"snippets/vps-wizard-php.conf), then {RERUN}",
        )
    if answer.status in (502, 503, 504):
        return fail(
            cid,
            f"{host} answers {answer.status}: PHP-FPM does not answer",
            evidence,
            "start it (sudo systemctl start php8.2-fpm, or your PHP version's) and see "
            "sudo journalctl -u 'php*-fpm' for why it stopped",
        )
    if "/etc/wordpress/config-" in text:
        return fail(
            cid,
            f"WordPress finds no configuration for {host}",
            evidence + "\n" + visible(text[:300]),
            f"{RERUN}: it writes /etc/wordpress/config-<domain>.php (0640 root:www-data)",
        )
    if "Error establishing a database connection" in text or title == "Database Error":
        return fail(
            cid,
            f"WordPress on {host} cannot log in to its database",
            evidence,
            f"is MariaDB running (sudo systemctl status mariadb)? {RERUN}: it sets the user's "
            "password from the secrets file again",
        )
    if answer.status != 200 or "WordPress" not in text:
        return fail(
            cid,
            f"{host}{INSTALL_PAGE} answers HTTP {answer.status}, not WordPress's page",
            evidence,
            f"{RERUN}: it links WordPress into the web root; the site's error log "
            "(/var/log/nginx/<domain>.error.log) says more",
        )
    # The installer's title stays once it is done; its text then says so.
    page = "already installed" if "Already Installed" in text else "its installer"
    return ok(cid, f"{host} runs WordPress through PHP-FPM over HTTPS: {page}", evidence)


@check("wordpress.https")
def https_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, wp-admin/install.php over HTTPS is WordPress's page, made by PHP."""
    host = str(params["host"])
    return judge_https(host, http_get(server_host(ctx.address), host, INSTALL_PAGE, https=True))


# ----------------------------------------------------------------------------- db_grants


def grants_script(user: str) -> Shell:
    """The user's grants, as MariaDB prints them."""
    return script(
        marker("GRANTS"),
        sh("mariadb -N -r -e {sql} 2>&1", sql=f"SHOW GRANTS FOR '{user}'@'localhost'"),
        code("true"),
    )


def own_database(database: str) -> str:
    """How a grant on the database alone reads: its _ escaped, since a bare _ in a
    database-level grant matches any character (wp_site would grant wpXsite too)."""
    return f"`{database.replace('_', chr(92) + '_')}`.*"


def judge_grants(user: str, database: str, output: str) -> CheckResult:
    """USAGE on *.* (no privilege) and every privilege on its own database; nothing else."""
    cid = "wordpress.db_grants"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    evidence = "\n".join(visible(PASSWORD_HASH.sub(r"\1 '…'", line)) for line in lines)
    if not any(line.startswith("GRANT ") for line in lines):
        return fail(
            cid,
            f"MariaDB has no user {user}@localhost",
            evidence,
            f"{RERUN}: it makes the user and gives it the database {database}",
        )
    own = own_database(database)
    elsewhere = []
    full = False
    for line in lines:
        match = re.match(r"GRANT (.+?) ON (\S+) TO ", line)
        if not match:
            continue
        privileges, target = match.groups()
        if target == "*.*" and privileges == "USAGE":
            continue
        if target == own:
            full = full or privileges == "ALL PRIVILEGES"
            continue
        elsewhere.append(f"{privileges} ON {target}")
    if elsewhere:
        return fail(
            cid,
            f"{user} holds privileges beyond its database {database}: " + "; ".join(elsewhere),
            evidence,
            f"a break-in through WordPress then reaches every database: {RERUN} (it takes them "
            f"back), or sudo mariadb -e \"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{user}'@"
            f"'localhost'\" and grant the database again",
        )
    if not full:
        return fail(
            cid,
            f"{user} lacks ALL PRIVILEGES on {database}",
            evidence,
            f"WordPress needs to create and alter its tables: {RERUN}",
        )
    return ok(cid, f"{user} holds its own database {database} and nothing else", evidence)


@check("wordpress.db_grants")
def grants_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """SHOW GRANTS names only the user's own database."""
    cid = "wordpress.db_grants"
    user, database = str(params["user"]), str(params["database"])
    for name in (user, database):
        if not MARIADB_NAME.fullmatch(name):
            return fail(cid, f"not a name the step makes: {name!r}", hint="fix the step's answers")
    sections = run_sections(ctx, grants_script(user))
    return judge_grants(user, database, sections.get("GRANTS", ""))


# ----------------------------------------------------------------------------- code_readonly


def code_script(root: str, php_version: str) -> Shell:
    """As each PHP-FPM pool's user: what it could write in the code trees and the web root,
    outside the uploads; and how many entries it looked at. Links are not judged themselves:
    the web root's lead into the trees looked at, where their targets are."""
    pools = f"/etc/php/{php_version}/fpm/pool.d"
    return script(
        marker("USERS"),
        sh(
            "sed -n -E 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*([A-Za-z0-9_.-]+).*/\\1/p' "
            "{pools}/*.conf 2>/dev/null | sort -u",
            pools=pools,
        ),
        marker("WRITABLE"),
        sh(
            "sed -n -E 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*([A-Za-z0-9_.-]+).*/\\1/p' "
            "{pools}/*.conf 2>/dev/null | sort -u | while read -r u; do "
            'runuser -u "$u" -- find {trees} {root} -xdev -path {uploads} -prune '
            '-o ! -type l -writable -printf "$u\\tW\\t%p\\n" -o -printf "$u\\t.\\n" '
            "2>/dev/null; done",
            pools=pools,
            trees=CODE_TREES,
            root=root,
            uploads=UPLOADS,
        ),
        code("true"),
    )


def judge_code(users_text: str, writable_text: str) -> CheckResult:
    """No entry outside the uploads is writable by a PHP-FPM pool's user."""
    cid = "wordpress.code_readonly"
    users = [line.strip() for line in users_text.splitlines() if line.strip()]
    looked = 0
    found: list[str] = []
    for line in writable_text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[1] == ".":
            looked += 1
        elif len(parts) == 3 and parts[1] == "W":
            looked += 1
            found.append(f"{parts[0]} can write {parts[2]}")
    evidence = (
        f"PHP-FPM runs as: {', '.join(visible(u) for u in users) or '(no pool user found)'}\n"
        f"{looked} entries looked at in {', '.join(CODE_TREES)} and the web root"
        + "".join(f"\n{visible(line)}" for line in found[:SHOWN])
        + (f"\n… and {len(found) - SHOWN} more" if len(found) > SHOWN else "")
    )
    if not users or not looked:
        return fail(
            cid,
            "found no PHP-FPM pool user, or nothing to look at",
            evidence,
            "is PHP-FPM installed (apply the web step again) and WordPress too? " + RERUN,
        )
    if found:
        return fail(
            cid,
            f"PHP can change WordPress's code: {len(found)} writable entries outside the uploads",
            evidence,
            f"a hacked plugin could rewrite the site: {RERUN} (it gives wp-content back to "
            "root); for a file you changed by hand: sudo chown root:root FILE; "
            "sudo chmod go-w FILE",
        )
    return ok(
        cid,
        f"nothing outside the uploads is writable by PHP ({', '.join(users)})",
        evidence,
    )


@check("wordpress.code_readonly")
def code_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """As the PHP-FPM user, find finds nothing writable outside wp-content/uploads."""
    cid = "wordpress.code_readonly"
    root, version = str(params["root"]), str(params["php_version"])
    if not safe_path(root) or not PHP_VERSION.fullmatch(version):
        return fail(cid, f"not a web root and PHP version: {root!r}, {version!r}", hint=RERUN)
    sections = run_sections(ctx, code_script(root, version))
    return judge_code(sections.get("USERS", ""), sections.get("WRITABLE", ""))


# ----------------------------------------------------------------------------- xmlrpc


def judge_xmlrpc(host: str, blocked: bool, answer: HttpAnswer) -> CheckResult:
    """Blocked: 403. Open: WordPress's own answer to a GET (405, POST only), or its redirect
    to the installer while it is not installed."""
    cid = "wordpress.xmlrpc"
    evidence = answer.summary() + (
        f"\n{visible(answer.text[:200])}" if answer.text.strip() and not answer.error else ""
    )
    if answer.error:
        return http_problem(cid, answer, f"{host} got no answer over HTTPS", evidence)
    if blocked:
        if answer.status == 403:
            return ok(cid, f"{host}{XMLRPC} is blocked (403)", evidence)
        return fail(
            cid,
            f"{host}{XMLRPC} answers HTTP {answer.status}, not 403: XML-RPC is open",
            evidence,
            f"robots guess passwords through it: {RERUN} (it writes the block into "
            f"snippets/vhost-<domain>-https-wordpress.conf), or answer xmlrpc = open if a "
            "client needs it",
        )
    if XMLRPC_GET_ANSWER in answer.text:
        return ok(cid, f"{host}{XMLRPC} is open, as chosen: WordPress answers it", evidence)
    if answer.status == 302 and answer.location.endswith(INSTALL_PAGE):
        # Until the installer is finished, every entry point of WordPress sends there.
        return ok(
            cid, f"{host}{XMLRPC} is open, as chosen: WordPress sends it to its installer", evidence
        )
    return fail(
        cid,
        f"{host}{XMLRPC} answers HTTP {answer.status}, not WordPress's XML-RPC server",
        evidence,
        f"xmlrpc was answered open: {RERUN}; a block left by hand in the web server's "
        "configuration, or a security plugin, may still stop it",
    )


@check("wordpress.xmlrpc")
def xmlrpc_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, xmlrpc.php over HTTPS is 403 when blocked, WordPress's answer when open."""
    host = str(params["host"])
    answer = http_get(server_host(ctx.address), host, XMLRPC, https=True)
    return judge_xmlrpc(host, bool(params["blocked"]), answer)
