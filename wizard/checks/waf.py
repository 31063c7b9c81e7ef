"""Checks of the waf step: from outside, obvious attacks are blocked (or, in detection only,
would have been), ordinary requests pass, and the audit log on the server records each match.

Every request goes from the wizard's machine to the server's address with the site's name in
the Host header (over HTTPS once the tls step redirects there). Each attack carries a random
marker in its query string, so the check finds its own request in the audit log, not another
one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
from wizard.probes.http import HttpAnswer, http_get
from wizard.probes.sshconfig import server_host
from wizard.shell import Shell, code, heredoc, script, sh
from wizard.transient import remove_after

RERUN_WAF = "apply the waf step again"
AUDIT_LOG = "/var/log/modsecurity/audit.log"
BLOCKING, DETECTION = "blocking", "detection"
# The Core Rule Set's verdict: the inbound anomaly score reached the threshold.
ANOMALY_RULE = "949110"
MARK = "vwcheck"
SHOWN_RULES = 8


@dataclass(frozen=True)
class Attack:
    """An obvious attack the Core Rule Set blocks at paranoia level 1."""

    name: str
    query: str  # already URL-encoded, as a client sends it


SQL_INJECTION = Attack("an SQL injection", "id=1%27%20OR%20%271%27%3D%271")
PATH_TRAVERSAL = Attack("a path traversal", "file=../../../../etc/passwd")
ATTACKS = (SQL_INJECTION, PATH_TRAVERSAL)


def attack_path(attack: Attack, token: str) -> str:
    """The request's path and query: the attack, then the check's marker."""
    return f"/?{attack.query}&{MARK}={token}"


# ----------------------------------------------------------------------------- the site's URL


def site_scheme(address: str, host: str) -> tuple[bool, HttpAnswer]:
    """Whether the site lives on HTTPS (port 80 answers / with a redirect to https://host/,
    as once the tls step is applied), with the answer that tells."""
    first = http_get(address, host, "/")
    return first.status in (301, 308) and first.location == f"https://{host}/", first


def ask(address: str, host: str, path: str, https: bool, **form: str) -> HttpAnswer:
    """One request to the site: a GET, or a POST of `form` when fields are given."""
    return http_get(address, host, path, https=https, form=form or None)


# ----------------------------------------------------------------------------- the audit log

# One function prints the records holding a marker in the log's last 8 MB (the requests were
# just made); the other waits, 3 s at most in all, until every marker has its record: the web
# server writes one once the answer is sent. A record starts at its part A line:
# "---Xy12ab34---A--" (nginx), "--a1b2c3d4-A--" (Apache).
AUDIT_FUNCTIONS = code(
    'records() { tail -c 8000000 /var/log/modsecurity/audit.log 2>/dev/null | awk -v t="$1" '
    '\'/^--+[A-Za-z0-9]+-+A--$/ { if (index(r, t)) printf "%s", r; r = "" } '
    '{ r = r $0 "\\n" } END { if (index(r, t)) printf "%s", r }\'; }\n'
    'wait_all() { i=0; while [ "$i" -lt 30 ]; do missing=0; for t in "$@"; do '
    '[ -n "$(records "$t")" ] || missing=1; done; [ "$missing" = 0 ] && break; sleep 0.1; '
    "i=$((i + 1)); done; }"
)


def audit_script(tokens: Sequence[str]) -> Shell:
    """The log's owner and mode, then each marker's records (once all are there, or 3 s)."""
    parts = [
        AUDIT_FUNCTIONS,
        marker("LOG"),
        code("stat -c '%a %U %G %s bytes' /var/log/modsecurity/audit.log 2>&1"),
        sh("wait_all {tokens}", tokens=list(tokens)),
    ]
    for index, token in enumerate(tokens):
        parts += [marker(f"R{index}"), sh("records {token}", token=token)]
    return script(*parts, code("true"))


@dataclass(frozen=True)
class AuditRecord:
    """What the audit log says of one request: the rules that matched, and whether it was
    denied (blocking) or only reported (detection only)."""

    text: str

    @property
    def found(self) -> bool:
        """Whether the request is in the log at all."""
        return bool(self.text.strip())

    @property
    def rules(self) -> tuple[str, ...]:
        """The ids of the rules that matched, in order, once each."""
        return tuple(dict.fromkeys(re.findall(r'\[id "(\d+)"\]', self.text)))

    @property
    def denied(self) -> bool:
        """The web server refused it (ModSecurity's 'Access denied')."""
        return "Access denied" in self.text

    @property
    def over_threshold(self) -> bool:
        """The anomaly score reached the threshold: blocked, or would have been."""
        return ANOMALY_RULE in self.rules

    @property
    def unique_id(self) -> str:
        """The transaction's unique id (part A: "[date] ID client port server port"), as the
        web server's error log also names it."""
        match = re.search(r"^\[[^\]]+\] (\S+) ", self.text, re.M)
        return match.group(1) if match else ""

    def messages(self) -> list[str]:
        """`id: message` of each rule that matched, the first few."""
        seen: dict[str, str] = {}
        for rule, message in re.findall(r'\[id "(\d+)"\].*?\[msg "([^"]*)"\]', self.text):
            seen.setdefault(rule, message)
        return [f"rule {rule}: {message}" for rule, message in list(seen.items())[:SHOWN_RULES]]


def read_audit(ctx: CheckContext, tokens: Sequence[str]) -> tuple[str, list[AuditRecord]]:
    """The log's `stat` line and, per marker, its records (empty when not logged)."""
    sections = run_sections(ctx, audit_script(tokens))
    records = [AuditRecord(sections.get(f"R{index}", "")) for index in range(len(tokens))]
    return sections.get("LOG", "").strip(), records


# ----------------------------------------------------------------------------- waf.blocks


def attack_lines(attack: Attack, answer: HttpAnswer, record: AuditRecord) -> list[str]:
    """Evidence for one attack: the request and answer, then what the audit log says."""
    lines = [f"{attack.name}: {answer.summary()}"]
    if record.found:
        lines += [f"  {line}" for line in record.messages()]
    else:
        lines.append(f"  not in {AUDIT_LOG}")
    return lines


def judge_blocks(
    mode: str,
    tried: Sequence[tuple[Attack, HttpAnswer, AuditRecord]],
    exclusions: Sequence[str] = (),
) -> CheckResult:
    """Blocking: every attack gets 403. Detection only: none does, and the log shows each
    would have been blocked (a warning: nothing is protected yet)."""
    cid = "waf.blocks"
    evidence = "\n".join(line for a, answer, r in tried for line in attack_lines(a, answer, r))
    if exclusions:
        evidence += "\nrules removed by the step: " + ", ".join(exclusions)
    for attack, answer, _ in tried:
        if answer.error:
            return http_problem(cid, answer, f"{attack.name} got no answer", evidence)
    passed = [(a, answer, r) for a, answer, r in tried if answer.status != 403]
    if mode == BLOCKING:
        if not passed:
            names = " and ".join(a.name for a, _, _ in tried)
            return ok(cid, f"{names} get 403 Forbidden", evidence)
        attack, answer, record = passed[0]
        summary = f"{attack.name} got HTTP {answer.status}, not 403"
        inspected = record.found or any(r.denied for _, _, r in tried)
        if record.over_threshold and not record.denied:
            hint = (
                "ModSecurity saw it but only reported it: its engine is in detection only "
                f"(SecRuleEngine DetectionOnly, changed by hand?). {RERUN_WAF} with blocking"
            )
        elif inspected:
            removed = f" (the step removes {', '.join(exclusions)})" if exclusions else ""
            hint = (
                "ModSecurity inspects the site, but the rules that catch it are removed by "
                f"the step's exclusions{removed} or do not reach the anomaly threshold: keep "
                "the exclusions to the rules your site needs, or lower the threshold"
            )
        else:
            hint = (
                "ModSecurity did not see it: it is not on for the site (nginx: `modsecurity "
                "on;` in the site's -waf.conf snippets; Apache: SecRuleEngine in its "
                f"-waf.conf files), or the Core Rule Set is not loaded. {RERUN_WAF}; "
                "sudo nginx -T | grep -i modsecurity (or apache2ctl -M | grep security2)"
            )
        return fail(cid, summary, evidence, hint)
    blocked = [(a, answer) for a, answer, _ in tried if answer.status == 403]
    if blocked:
        return fail(
            cid,
            f"{blocked[0][0].name} got 403 although the step is in detection only",
            evidence,
            f"the engine blocks (SecRuleEngine On, set by hand?), or something else answers "
            f"403: {RERUN_WAF}, or answer blocking if that is what you want",
        )
    unseen = [a for a, _, r in tried if not r.over_threshold]
    if unseen:
        return fail(
            cid,
            f"{unseen[0].name} was not detected: the audit log does not show it over the "
            "anomaly threshold",
            evidence,
            f"ModSecurity does not inspect the site, or does not log: {RERUN_WAF}; a rule "
            "exclusion or a high threshold may hide it too",
        )
    return warn(
        cid,
        "detection only: would have blocked "
        + " and ".join(a.name for a, _, _ in tried)
        + f", see the audit log ({AUDIT_LOG})",
        evidence,
        "nothing is blocked yet: read the audit log for matches on your own pages, add their "
        f"rule ids as exclusions, then {RERUN_WAF} with blocking",
    )


@check("waf.blocks")
def blocks_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, an SQL injection and a path traversal get 403 (detection only: are
    logged as over the threshold, a warning)."""
    host, mode = str(params["host"]), str(params.get("mode", BLOCKING))
    address = server_host(ctx.address)
    https, _ = site_scheme(address, host)
    tokens = [secrets.token_hex(8) for _ in ATTACKS]
    answers = [
        ask(address, host, attack_path(attack, token), https)
        for attack, token in zip(ATTACKS, tokens, strict=True)
    ]
    _, records = read_audit(ctx, tokens)
    exclusions = [str(rule) for rule in params.get("exclusions") or ()]
    return judge_blocks(mode, list(zip(ATTACKS, answers, records, strict=True)), exclusions)


# ----------------------------------------------------------------------------- waf.passes

# What a visitor's contact form sends: words the rules must not take for an attack.
FORM = {
    "name": "Marie Dupont",
    "email": "marie.dupont@example.org",
    "message": "Bonjour, pourriez-vous me rappeler demain après 14 h ? Merci d'avance.",
}
PROBE_LIFETIME = 120

FORM_PHP = """<?php
header('Content-Type: text/plain');
echo 'proof=', hash('sha256', 'vps-wizard:TOKEN:' . ($_POST['message'] ?? '')), "\\n";
"""


def form_proof(token: str, message: str) -> str:
    """What the form page prints when PHP received the message whole."""
    return hashlib.sha256(f"vps-wizard:{token}:{message}".encode()).hexdigest()


def write_form_script(root: str, path: str, token: str) -> Shell:
    """Write the one-time form page as the site's own files are (owner:www-data, 0640), and
    arm its removal as a safety net.

    The file is created by the web root's owner, never by root and chowned after: the
    vhost.permissions check, which runs beside this one, must never see it root's.
    """
    return script(
        code("umask 027"),
        sh("owner=$(stat -c %U {root}) || exit 1", root=root),
        # The root's setgid bit gives the file www-data's group; the umask gives 0640.
        # The here-document feeds the group: base64 reads it, not the pipeline's last command.
        heredoc(
            sh('{{ base64 -d | runuser -u "$owner" -- tee {path} >/dev/null; }}', path=path),
            FORM_PHP.replace("TOKEN", token).encode(),
        ),
        sh("test -s {path} || exit 1", path=path),
        remove_after(path, PROBE_LIFETIME),
    )


def judge_passes(page: HttpAnswer, post: HttpAnswer, proof: str) -> CheckResult:
    """The site's page and a form post both get 200, the post's fields reaching PHP whole."""
    cid = "waf.passes"
    evidence = "\n".join([page.summary(), post.summary()])
    for what, answer in (("the page", page), ("the form post", post)):
        if answer.error:
            return http_problem(cid, answer, f"{what} got no answer", evidence)
        if answer.status == 403:
            return fail(
                cid,
                f"{what} got 403: the firewall blocks an ordinary request (a false positive)",
                evidence,
                f"sudo grep -o 'id \"[0-9]*\"' {AUDIT_LOG} | sort | uniq -c names the rules "
                "that matched; give their ids as the step's exclusions, or lower the paranoia "
                f"level, and {RERUN_WAF}",
            )
        if answer.status != 200:
            return fail(
                cid,
                f"{what} got HTTP {answer.status}, not 200",
                evidence,
                "see the vhost checks (the site must serve its page) and the web.php check "
                "(PHP-FPM must answer); a 413 is a body over the firewall's limit",
            )
    if proof not in post.text:
        return fail(
            cid,
            "the form post got 200, but PHP did not receive its fields whole",
            evidence,
            "ModSecurity or the web server changed the request body: look at the site's "
            f"error log and {AUDIT_LOG}, then {RERUN_WAF}",
        )
    return ok(cid, "an ordinary page and a form post get 200 (no false positive)", evidence)


@check("waf.passes")
def passes_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From outside, the site's page and a form post to a one-time PHP page get 200."""
    host, root = str(params["host"]), str(params["root"])
    if not safe_path(root):
        return fail("waf.passes", f"'{root}' is not a web root path", hint="a step bug")
    address = server_host(ctx.address)
    https, first = site_scheme(address, host)
    page = ask(address, host, "/", https) if https else first
    token = secrets.token_hex(16)
    name = f"vw-waf-{token}.php"
    written = ctx.remote.run(write_form_script(root, f"{root}/{name}", token))
    if not written.ok:
        return fail(
            "waf.passes",
            f"could not write the form page into {root}",
            (written.stdout + written.stderr).strip()[-500:],
            "apply the vhost step again: it creates the web root",
        )
    try:
        post = ask(address, host, f"/{name}", https, **FORM)
    finally:
        ctx.remote.run(sh("rm -f {path}", path=f"{root}/{name}"))
    return judge_passes(page, post, form_proof(token, FORM["message"]))


# ----------------------------------------------------------------------------- waf.audit_log


def judge_audit_log(
    mode: str, answer: HttpAnswer, log: str, record: AuditRecord, token: str
) -> CheckResult:
    """The attack's request is in the audit log, over the anomaly threshold, denied when
    blocking; the log is not readable by every local account."""
    cid = "waf.audit_log"
    evidence = "\n".join(
        [
            f"{PATH_TRAVERSAL.name}: {answer.summary()}",
            f"{AUDIT_LOG}: {log or '(no answer)'}",
            *(
                [f"record of {MARK}={token}, unique id {record.unique_id or '?'}:"]
                + [f"  {line}" for line in record.messages()]
                if record.found
                else [f"no record holds {MARK}={token}"]
            ),
        ]
    )
    if answer.error:
        return http_problem(cid, answer, "the test request got no answer", evidence)
    if "No such file" in log:
        return fail(
            cid,
            f"there is no audit log {AUDIT_LOG}",
            evidence,
            f"{RERUN_WAF}: it creates /var/log/modsecurity and sets SecAuditLog; the web "
            "server opens the log when it loads the rules (sudo systemctl reload nginx or "
            "apache2)",
        )
    if not record.found:
        return fail(
            cid,
            f"the audit log does not record the attack ({MARK}={token})",
            evidence,
            "ModSecurity did not log it: SecAuditEngine off or another SecAuditLog (changed "
            f"by hand?), or the firewall does not inspect the site. {RERUN_WAF}",
        )
    if not record.over_threshold:
        return fail(
            cid,
            "the audit log records the request, but not over the anomaly threshold",
            evidence,
            "the rules that matched do not add up to the threshold: see the step's exclusions "
            "and threshold",
        )
    if mode == BLOCKING and not record.denied:
        return fail(
            cid,
            "the audit log records the attack as let through, not denied",
            evidence,
            f"the engine is in detection only: {RERUN_WAF} with blocking",
        )
    mode_text = "its denial" if mode == BLOCKING else "that it would have been blocked"
    parts = log.split()
    if len(parts) >= 3 and parts[0].isdigit() and int(parts[0][-1]) != 0:
        return warn(
            cid,
            f"the audit log records the attack and {mode_text}, but every local account can "
            "read it",
            evidence,
            f"it holds request headers (cookies): sudo chmod 0640 {AUDIT_LOG}",
        )
    return ok(
        cid,
        f"the audit log records the attack (rule {ANOMALY_RULE}) and {mode_text}",
        evidence,
    )


@check("waf.audit_log")
def audit_log_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """A path traversal sent from outside is recorded in the audit log on the server (it
    scores far over any threshold, whatever single rule the step removes)."""
    host, mode = str(params["host"]), str(params.get("mode", BLOCKING))
    address = server_host(ctx.address)
    https, _ = site_scheme(address, host)
    token = secrets.token_hex(8)
    answer = ask(address, host, attack_path(PATH_TRAVERSAL, token), https)
    log, records = read_audit(ctx, [token])
    return judge_audit_log(mode, answer, log, records[0], token)
