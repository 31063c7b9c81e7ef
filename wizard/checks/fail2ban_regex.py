"""The test of a fail2ban filter against real Postfix log lines: fail2ban-regex run on the
server over chapter 55's flood, and its verdict. The fail2ban checks and the mail-auth jail check
both use it."""

from __future__ import annotations

import re

from wizard.checks.base import CheckResult, fail, ok
from wizard.shell import Shell, code, heredoc, script, sh

RERUN_FAIL2BAN = "run the fail2ban step again"
NOT_FOUND = 127  # the shell's exit status for "command not found"


def not_installed(check_id: str, output: str) -> CheckResult:
    """The fail result when fail2ban's tools are missing on the server."""
    return fail(
        check_id,
        "fail2ban is not installed",
        output.strip()[-300:] or "fail2ban-client: command not found",
        f"{RERUN_FAIL2BAN}: it installs fail2ban and python3-systemd",
    )


# Chapter 55's log: a Postfix flood ending in "lost connection after AUTH/UNKNOWN/EHLO".
# The "connect from" line opens every such session and must not count as a failure.
SEED_HOST = "68.236.203.102"
SEED_PEER = f"static-68-236-203-102.nwrk.east.verizon.net[{SEED_HOST}]"
SEED_MISS = f"Dec 15 16:30:33 mail postfix/smtpd[5912]: connect from {SEED_PEER}"
SEED_MATCHES = tuple(
    f"Dec 15 16:30:34 mail postfix/smtpd[5912]: lost connection after {command} from {SEED_PEER}"
    for command in ("AUTH", "UNKNOWN", "EHLO")
)
SEED_LINES = (SEED_MISS, *SEED_MATCHES)
FILTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def filter_matches_script(filter_name: str) -> Shell:
    """Run fail2ban-regex over the seed lines in a temporary file, which is then removed.

    A file run uses the syslog-style prefix (hostname, daemon[pid]:) and ignores the filter's
    journalmatch, so the lines are those of a classic /var/log/mail.log.
    """
    seeds = "".join(f"{line}\n" for line in SEED_LINES).encode()
    return script(
        code("f=$(mktemp) || exit 1"),
        heredoc(code('base64 -d > "$f"'), seeds),
        sh(
            'fail2ban-regex -v --print-all-matched "$f" {filter} 2>&1',
            filter=f"/etc/fail2ban/filter.d/{filter_name}.conf",
        ),
        code('rc=$?; rm -f "$f"; exit $rc'),
    )


def matched_lines(output: str) -> list[str]:
    """The lines fail2ban-regex lists under 'Matched line(s):'."""
    lines: list[str] = []
    inside = False
    for line in output.splitlines():
        if line.startswith("|- Matched line(s):"):
            inside = True
        elif inside and line.startswith("|  "):
            lines.append(line[3:].strip())
        elif inside:
            break
    return lines


def matched_hosts(output: str) -> list[str]:
    """The hosts fail2ban-regex -v extracted, one per match ('|      HOST  Mon Dec 15 ...')."""
    return re.findall(r"^\|\s{4,}(\S+)\s{2,}\w{3} \w{3} +\d+ [\d:]+ \d{4}\s*$", output, re.M)


def judge_filter_matches(filter_name: str, output: str, exit_code: int) -> CheckResult:
    """The filter matches the three flood lines (host SEED_HOST) and not the connect line."""
    cid = "fail2ban.filter_matches"
    summary_line = re.search(r"^Lines: .*$", output, re.M)
    matched = matched_lines(output)
    hosts = matched_hosts(output)
    evidence = "\n".join(
        [
            summary_line.group(0) if summary_line else output.strip()[-500:],
            *(f"matched: {line}" for line in matched),
            f"hosts found: {', '.join(dict.fromkeys(hosts)) or '(none)'}",
        ]
    )
    if exit_code == NOT_FOUND:
        return not_installed(cid, output)
    if exit_code != 0 or not summary_line:
        return fail(
            cid,
            f"fail2ban-regex could not run the {filter_name} filter",
            evidence,
            f"{RERUN_FAIL2BAN}: it writes /etc/fail2ban/filter.d/{filter_name}.conf; test by "
            f"hand with sudo fail2ban-regex /var/log/mail.log {filter_name}",
        )
    missed = [line for line in SEED_MATCHES if line not in matched]
    extra = [line for line in matched if line not in SEED_MATCHES]
    wrong_hosts = [host for host in hosts if host != SEED_HOST]
    if missed or extra or len(hosts) != len(SEED_MATCHES) or wrong_hosts:
        problems = []
        if missed:
            problems.append(f"{len(missed)} of {len(SEED_MATCHES)} flood lines not matched")
        if extra:
            problems.append("the 'connect from' line matched too")
        if wrong_hosts or len(hosts) != len(SEED_MATCHES):
            problems.append(f"the host found is not {SEED_HOST} for every line")
        return fail(
            cid,
            f"the {filter_name} filter is wrong: " + "; ".join(problems),
            evidence,
            f"{RERUN_FAIL2BAN} to restore /etc/fail2ban/filter.d/{filter_name}.conf; its "
            "failregex must match 'lost connection after AUTH|UNKNOWN|EHLO from NAME[HOST]'",
        )
    return ok(cid, f"the {filter_name} filter catches the AUTH, UNKNOWN and EHLO floods", evidence)
