"""Checks of the vhost step: the site answers, the other name redirects to the canonical one, the
bare domain is never 403, and the web root has the owner, group and modes the step set.

The HTTP checks connect to the server's address from the wizard's machine and send the site's
name in the Host header: no DNS record is needed, which is how a site is tested before its DNS
moves to a new server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    fail,
    marker,
    ok,
    run_sections,
    warn,
)
from wizard.checks.params import safe_path
from wizard.checks.verdicts import http_problem
from wizard.probes.http import HttpAnswer, follow_redirects, http_get, page_title
from wizard.probes.sshconfig import server_host
from wizard.shell import Shell, code, script, sh

RERUN_VHOST = "run the vhost step again"
CANONICAL_PATH = "/vps-wizard-canonical-check?x=1"
REDIRECTS = (301, 308)
# http://domain -> https://domain -> https://www.domain -> the page, with tls and www canonical.
MAX_HOPS = 4

# ----------------------------------------------------------------------------- vhost.serves


def upgraded(address: str, host: str, path: str) -> tuple[HttpAnswer, str]:
    """GET http://host/path; once the tls step turned port 80 into a 301 to the same name over
    HTTPS, the HTTPS answer instead (the site lives there). With the HTTP hop as evidence."""
    answer = http_get(address, host, path)
    if answer.status in REDIRECTS and answer.header("location") == f"https://{host}{path}":
        return http_get(address, host, path, https=True), answer.summary() + "\n"
    return answer, ""


def judge_serves(host: str, answer: HttpAnswer) -> CheckResult:
    """The canonical name answers 200 with a page."""
    cid = "vhost.serves"
    title = page_title(answer)
    evidence = answer.summary() + (
        f"\n{len(answer.body)} bytes" + (f", title: {title}" if title else "")
        if not answer.error
        else ""
    )
    if answer.error:
        return http_problem(cid, answer, f"{host} got no answer", evidence)
    if answer.status == 403:
        return fail(
            cid,
            f"{host} answers 403 Forbidden",
            evidence,
            f"the web root has no index.php or index.html (or the web server cannot read it): "
            f"{RERUN_VHOST} to put a placeholder back, and see the vhost.permissions check",
        )
    if answer.status in (301, 302, 307, 308):
        return fail(
            cid,
            f"{host} redirects instead of serving the site",
            evidence,
            f"{host} is the canonical name: it must serve, not redirect. {RERUN_VHOST}",
        )
    if answer.status >= 500:
        return fail(
            cid,
            f"{host} answers {answer.status}",
            evidence,
            "the site's PHP fails or PHP-FPM is down: see the web.php check and the site's "
            "error log (/var/log/nginx/<domain>.error.log or /var/log/apache2/)",
        )
    if answer.status != 200:
        return fail(
            cid,
            f"{host} answers HTTP {answer.status}, not 200",
            evidence,
            f"{RERUN_VHOST}: the web server may not know the name (nginx -T | grep server_name)",
        )
    return ok(cid, f"{host} serves the site", evidence)


@check("vhost.serves")
def serves_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The canonical name answers 200 from the outside (Host header, no DNS needed)."""
    host = str(params["host"])
    answer, before = upgraded(server_host(ctx.address), host, "/")
    result = judge_serves(host, answer)
    return replace(result, evidence=before + result.evidence)


# ----------------------------------------------------------------------------- vhost.canonical


def judge_canonical(canonical: str, other: str, answer: HttpAnswer) -> CheckResult:
    """The other name answers a permanent redirect to the canonical name, path kept."""
    cid = "vhost.canonical"
    evidence = answer.summary()
    if answer.error:
        return http_problem(cid, answer, f"{other} got no answer", evidence)
    location = answer.header("location")
    target = urlsplit(location)
    wanted_path = CANONICAL_PATH
    if answer.status not in REDIRECTS:
        return fail(
            cid,
            f"{other} answers HTTP {answer.status}, not a permanent redirect to {canonical}",
            evidence,
            f"{RERUN_VHOST}: it makes {other} redirect (301) to {canonical}; two names serving "
            "the same pages split their search ranking",
        )
    # http now; https once the tls step has turned the redirects to HTTPS.
    if (
        target.scheme not in ("http", "https")
        or (target.hostname or "") != canonical
        or f"{target.path}{'?' + target.query if target.query else ''}" != wanted_path
    ):
        return fail(
            cid,
            f"{other} redirects to {location or '(no Location)'}, not to {canonical} "
            f"with the path kept",
            evidence,
            f"{RERUN_VHOST}: it writes the redirect to http://{canonical}$request_uri; a hand "
            f"edit of the site's configuration may have changed it",
        )
    return ok(cid, f"{other} redirects permanently to {canonical}", evidence)


@check("vhost.canonical")
def canonical_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The non-canonical name answers 301 to the canonical one (from the outside)."""
    canonical, other = str(params["canonical"]), str(params["other"])
    answer, before = upgraded(server_host(ctx.address), other, CANONICAL_PATH)
    result = judge_canonical(canonical, other, answer)
    return replace(result, evidence=before + result.evidence)


# ----------------------------------------------------------------------------- vhost.no_403


def judge_no_403(domain: str, hops: Sequence[HttpAnswer]) -> CheckResult:
    """The bare domain, followed through its redirects on this server, ends in a page, not 403."""
    cid = "vhost.no_403"
    evidence = "\n".join(hop.summary() for hop in hops)
    last = hops[-1]
    if last.error:
        return http_problem(cid, last, f"{domain} got no answer", evidence)
    if last.status == 403:
        return fail(
            cid,
            f"{domain} ends in 403 Forbidden",
            evidence,
            "the web root has no index.php or index.html, and listing it is forbidden "
            f"(chapter 32): upload your index, or {RERUN_VHOST} to put a placeholder back; if "
            "an index is there, the web server cannot read it (see vhost.permissions)",
        )
    if last.status in (301, 302, 307, 308):
        return fail(
            cid,
            f"{domain} redirects more than {MAX_HOPS - 1} times or off this server",
            evidence,
            f"{RERUN_VHOST}: the redirects of the bare and www names may loop",
        )
    if last.status >= 400:
        return fail(
            cid,
            f"{domain} ends in HTTP {last.status}",
            evidence,
            f"{RERUN_VHOST}; see the site's error log",
        )
    return ok(cid, f"{domain} is served (HTTP {last.status}), no 403", evidence)


@check("vhost.no_403")
def no_403_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The bare domain (through its redirect when www is canonical) gives no 403."""
    domain = str(params["domain"])
    names = (domain, f"www.{domain}")
    hops = follow_redirects(server_host(ctx.address), f"http://{domain}/", names, MAX_HOPS)
    return judge_no_403(domain, hops)


# ----------------------------------------------------------------------------- vhost.headers

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


def expected_headers(csp: str) -> dict[str, str]:
    """The headers the step sets, with their values: the CSP only when one was given."""
    return {**SECURITY_HEADERS, **({"Content-Security-Policy": csp} if csp else {})}


def judge_headers(host: str, csp: str, answer: HttpAnswer) -> CheckResult:
    """Each security header is sent exactly once with the step's value."""
    cid = "vhost.headers"
    wanted = expected_headers(csp)
    seen = {name: answer.values(name) for name in wanted}
    evidence = "\n".join(
        [
            answer.summary(),
            *(f"{name}: {' | '.join(values) or '(missing)'}" for name, values in seen.items()),
            *([] if csp else ["Content-Security-Policy: not asked for (the question is empty)"]),
        ]
    )
    if answer.error:
        return http_problem(cid, answer, f"{host} got no answer", evidence)
    missing = [name for name, values in seen.items() if not values]
    wrong = [
        f"{name} is '{' | '.join(values)}', not '{wanted[name]}'"
        for name, values in seen.items()
        if values and values != [wanted[name]]
    ]
    if missing or wrong:
        nginx = (
            "nginx: a location with add_header of its own drops these (they are set at server "
            "level in snippets/vhost-<domain>.conf): repeat them there"
        )
        return fail(
            cid,
            "; ".join([*(f"{name} missing" for name in missing), *wrong]) + f" on {host}",
            evidence,
            f"{RERUN_VHOST}: it sets them on every answer of the site. {nginx}; an application "
            "sending its own copy makes two (remove it there)",
        )
    return ok(cid, f"{host} sends " + ", ".join(wanted), evidence)


@check("vhost.headers")
def headers_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, the canonical name (over HTTPS once the tls step redirects there) sends
    each security header once with the step's value."""
    host, csp = str(params["host"]), str(params.get("csp") or "")
    answer, before = upgraded(server_host(ctx.address), host, "/")
    result = judge_headers(host, csp, answer)
    return replace(result, evidence=before + result.evidence)


# ----------------------------------------------------------------------------- permissions

SHOWN_ENTRIES = 10
DIR_MODE = "2750"
GROUP = "www-data"


def permissions_script(root: str, owner: str) -> Shell:
    """The two top directories' attributes, and the entries below that stray from the rules."""
    public = f"{root}/public"
    return script(
        marker("TOP"),
        sh("stat -c '%a %U %G %n' {root} {public} 2>&1", root=root, public=public),
        # Writable by group or others, another owner, or another group: wrong. A symbolic
        # link's own mode means nothing (access goes by its target's): only its owner counts.
        marker("WRONG"),
        sh(
            "find {public} -xdev -mindepth 1 \\( ! -type l -perm /022 -o ! -user {owner} "
            "-o ! -group {group} \\) -printf '%m %u:%g %p\\n' 2>&1 | head -n {shown}",
            public=public,
            owner=owner,
            group=GROUP,
            shown=SHOWN_ENTRIES,
        ),
        # Readable by others: harmless inside a 2750 tree, but not what the step set.
        marker("OPEN"),
        sh(
            "find {public} -xdev -mindepth 1 ! -type l -perm /007 -printf '%m %u:%g %p\\n' "
            "2>/dev/null | head -n {shown}",
            public=public,
            shown=SHOWN_ENTRIES,
        ),
        code("true"),
    )


def judge_permissions(root: str, owner: str, top: str, wrong: str, open_: str) -> CheckResult:
    """The web root and its public folder are 2750 owner:www-data, nothing below is writable by
    the web server or others or owned by someone else; others-readable entries only warn."""
    cid = "vhost.permissions"
    want = f"{DIR_MODE} {owner} {GROUP}"
    seen = {}
    for line in top.strip().splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4:
            seen[parts[3]] = " ".join(parts[:3])
    wrong_lines = [line for line in wrong.strip().splitlines() if line.strip()]
    open_lines = [line for line in open_.strip().splitlines() if line.strip()]
    evidence = "\n".join(
        [
            *(f"{path}: {seen.get(path, 'missing')}" for path in (root, f"{root}/public")),
            *(f"wrong: {line}" for line in wrong_lines),
            *(f"readable by all: {line}" for line in open_lines),
        ]
    )
    fix = (
        f"sudo chown -R {owner}:{GROUP} {root} && sudo find {root} -type d -exec chmod 2750 "
        f"{{}} + && sudo find {root} -type f -exec chmod 0640 {{}} +"
    )
    bad_top = [p for p in (root, f"{root}/public") if seen.get(p) != want]
    if bad_top:
        return fail(
            cid,
            ", ".join(f"{p} is {seen.get(p, 'missing')}" for p in bad_top) + f", not {want}",
            evidence,
            f"{RERUN_VHOST}, or: {fix}",
        )
    if wrong_lines:
        return fail(
            cid,
            "entries of the web root are writable by the web server or others, or not "
            f"{owner}:{GROUP}",
            evidence,
            f"{fix} (a folder PHP must write to, like uploads, belongs to the application's "
            "step, not here)",
        )
    if open_lines:
        return warn(
            cid,
            "some entries are readable by every local account",
            evidence,
            f"harmless inside a 2750 tree, but not the 0640 the step sets: {fix}",
        )
    return ok(
        cid, f"{root} is {owner}:{GROUP}, directories 2750, nothing writable by the web", evidence
    )


@check("vhost.permissions")
def permissions_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The web root's owner, group and modes are the ones the step set."""
    root, owner = str(params["root"]), str(params["owner"])
    if not safe_path(root):
        return fail("vhost.permissions", f"'{root}' is not a web root path", hint="a step bug")
    sections = run_sections(ctx, permissions_script(root, owner))
    return judge_permissions(
        root, owner, sections.get("TOP", ""), sections.get("WRONG", ""), sections.get("OPEN", "")
    )
