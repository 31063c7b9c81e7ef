"""Checks of fail2ban: jails running, our address ignored, a ban reaching the firewall, and the
chapter 55 filter matching real Postfix log lines.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
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
    split_sections,
    warn,
)
from wizard.checks.fail2ban_regex import (
    FILTER_NAME,
    NOT_FOUND,
    RERUN_FAIL2BAN,
    filter_matches_script,
    judge_filter_matches,
    not_installed,
)
from wizard.shell import Shell, code, script, sh

JOURNAL_HINT = "see why with: sudo journalctl -u fail2ban -n 50"
# The test ban only ever touches documentation addresses (RFC 5737), never a real host.
TEST_NETWORK = ipaddress.ip_network("192.0.2.0/24")


def jail_list(status_output: str) -> list[str]:
    """The jails named on the `Jail list:` line of `fail2ban-client status`."""
    for line in status_output.splitlines():
        _, found, names = line.partition("Jail list:")
        if found:
            return [name for name in re.split(r"[\s,]+", names) if name]
    return []


def judge_jails(expected: Sequence[str], output: str, exit_code: int) -> CheckResult:
    """fail2ban runs and every expected jail is among its jails."""
    cid = "fail2ban.jails"
    if exit_code == NOT_FOUND:
        return not_installed(cid, output)
    if exit_code != 0:
        return fail(
            cid,
            "fail2ban is not running",
            output.strip()[-500:] or f"fail2ban-client exited {exit_code}",
            f"{JOURNAL_HINT}; then sudo systemctl restart fail2ban, or {RERUN_FAIL2BAN}",
        )
    running = jail_list(output)
    evidence = f"running jails: {', '.join(running) or '(none)'}"
    missing = [jail for jail in expected if jail not in running]
    if missing:
        return fail(
            cid,
            f"jail{'s' if len(missing) > 1 else ''} not running: {', '.join(missing)}",
            evidence,
            f"{JOURNAL_HINT} (a jail whose log source is missing is skipped); {RERUN_FAIL2BAN}",
        )
    return ok(cid, f"jails running: {', '.join(expected)}", evidence)


# After a (re)start systemd reports fail2ban active before its socket answers: a check that
# asks it right away reads "Failed to access socket path" (seen on Debian 13 in CI). A command
# that fails is asked again once `fail2ban-client ping` answers, within ANSWER_WAIT_S; asked
# first, not after a ping, as each fail2ban-client is a Python start (0.06-0.1 s of the
# server's CPU, which the checks of a full verify share).
ANSWER_WAIT_S = 10
FAIL2BAN_ANSWERS = code(
    "if command -v fail2ban-client >/dev/null 2>&1; then i=0; "
    "while [ $i -lt 40 ] && ! fail2ban-client ping >/dev/null 2>&1; do "
    "sleep 0.25; i=$((i+1)); done; fi"
)


def answered(command: Shell) -> Shell:
    """A fail2ban-client command, its output (stderr too) printed and its status left in $rc:
    run at once, and when it fails (fail2ban there but not answering yet, say), run again
    after FAIL2BAN_ANSWERS."""
    return script(
        sh("out=$({command} 2>&1); rc=$?", command=command),
        sh(
            'if [ "$rc" -ne 0 ] && [ "$rc" -ne 127 ]; then {wait}; '
            "out=$({command} 2>&1); rc=$?; fi",
            wait=FAIL2BAN_ANSWERS,
            command=command,
        ),
        code("""printf '%s\\n' "$out\""""),
    )


# fail2ban answers `status` before it has read its jails: right after a (re)start the list is
# empty for a second or two. Ask again, for at most JAIL_WAIT_S, while a jail we expect is
# missing; a jail that never comes up still fails, once the wait is over.
JAIL_POLLS = 40
JAIL_POLL_S = 0.25
JAIL_WAIT_S = JAIL_POLLS * JAIL_POLL_S


def jails_script(expected: Sequence[str], polls: int = JAIL_POLLS) -> Shell:
    """`fail2ban-client status` once every expected jail runs, or after `polls` tries
    (JAIL_WAIT_S); its output in the STATUS section and its exit code in RC."""
    return script(
        # set -f: the jail names are split on blanks below, never expanded as globs.
        sh("set -f; want={want}; i=0", want=" ".join(expected)),
        sh(
            """\
while :; do
  out=$(fail2ban-client status 2>&1); rc=$?
  [ $rc -eq 127 ] && break
  list=" $(printf '%s\\n' "$out" | sed -n 's/.*Jail list:[[:space:]]*//p' | tr ',' ' ') "
  missing=''
  for j in $want; do case "$list" in *" $j "*) ;; *) missing=1;; esac; done
  [ -z "$missing" ] && [ $rc -eq 0 ] && break
  [ $i -ge {polls} ] && break
  i=$((i + 1)); sleep {poll}
done""",
            polls=polls,
            poll=JAIL_POLL_S,
        ),
        marker("STATUS"),
        code("""printf '%s\\n' "$out\""""),
        marker("RC"),
        code('echo "$rc"'),
    )


@check("fail2ban.jails")
def jails_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """fail2ban runs the expected jails."""
    expected = [str(j) for j in params.get("jails") or ()]
    timeout = 30 + JAIL_WAIT_S
    sections = split_sections(ctx.remote.run(jails_script(expected), timeout=timeout).stdout)
    return judge_jails(expected, sections.get("STATUS", ""), exit_code(sections.get("RC", "")))


# ----------------------------------------------------------------------------- fail2ban.ignoreip


def ignore_entries(output: str) -> list[str]:
    """The entries of `fail2ban-client get JAIL ignoreip` (tree lines like '|- 127.0.0.0/8')."""
    entries = []
    for line in output.splitlines():
        match = re.match(r"^\s*[|`]-\s*(\S+)", line)
        if match:
            entries.append(match.group(1))
    return entries


def covers(entry: str, address: str) -> bool:
    """Whether an ignoreip entry (address, network, or a name) covers the address."""
    if entry == address:
        return True
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False  # a host name, or an address of the other family


def judge_ignoreip(address: str, output: str, exit_code: int) -> CheckResult:
    """The address the user connects from is in the sshd jail's ignore list."""
    cid = "fail2ban.ignoreip"
    if not address:
        return warn(
            cid,
            "the address you connect from is unknown, so it could not be checked",
            "the server did not report SSH_CONNECTION",
            "make sure your own address is in 'Addresses never to ban' of the fail2ban step",
        )
    if exit_code == NOT_FOUND:
        return not_installed(cid, output)
    if exit_code != 0:
        return fail(
            cid,
            "fail2ban did not answer for the sshd jail",
            output.strip()[-500:] or f"fail2ban-client exited {exit_code}",
            f"{JOURNAL_HINT}; {RERUN_FAIL2BAN}",
        )
    entries = ignore_entries(output)
    evidence = f"ignoreip of sshd: {' '.join(entries) or '(empty)'}"
    covering = [entry for entry in entries if covers(entry, address)]
    if not covering:
        return fail(
            cid,
            f"{address} (the address you connect from) could be banned",
            evidence,
            f"{RERUN_FAIL2BAN} with {address} among 'Addresses never to ban'",
        )
    return ok(cid, f"{address} is never banned (ignoreip {covering[0]})", evidence)


def ignoreip_script() -> Shell:
    """The sshd jail's ignoreip list, and fail2ban-client's status as the script's."""
    return script(answered(code("fail2ban-client get sshd ignoreip")), code('exit "$rc"'))


@check("fail2ban.ignoreip")
def ignoreip_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """fail2ban never bans the address the user connects from."""
    address = str(params.get("address") or "")
    if not address:
        return judge_ignoreip("", "", 0)
    result = ctx.remote.run(ignoreip_script(), timeout=30 + ANSWER_WAIT_S)
    return judge_ignoreip(address, result.stdout, result.exit_code)


# ----------------------------------------------------------------------------- fail2ban.test_ban

# fail2ban may apply a ban in its actions thread: give nft up to 5 s to show it, or drop it.
WAIT_FOR_BAN = code(
    'i=0; while [ $i -lt 100 ]; do nft list ruleset 2>/dev/null | grep -qwF "$addr" && break; '
    "sleep 0.05; i=$((i+1)); done"
)
WAIT_FOR_UNBAN = code(
    'i=0; while [ $i -lt 100 ]; do nft list ruleset 2>/dev/null | grep -qwF "$addr" || break; '
    "sleep 0.05; i=$((i+1)); done"
)


# Two verifies of one server at once (two admins, or one check run three times in parallel)
# would ban and unban the same address in each other's way: one copy's unban empties the other
# copy's ruleset before it looks. The trial takes this lock; the lock ends with the channel.
TEST_BAN_LOCK = "/run/vps-wizard-test-ban.lock"
TEST_BAN_LOCK_WAIT_S = 40


def trial_ban_script(jail: str, address: str, lock: str = TEST_BAN_LOCK) -> Shell:
    """Ban, list the ruleset, unban, list again; the unban runs whatever the ban did. One trial
    at a time per server."""
    return script(
        sh("jail={jail}; addr={address}", jail=jail, address=address),
        sh(
            "exec 9>>{lock}; flock -w {wait} 9 2>/dev/null || true",
            lock=lock,
            wait=TEST_BAN_LOCK_WAIT_S,
        ),
        marker("BAN"),
        answered(code('fail2ban-client set "$jail" banip "$addr"')),
        marker("BAN_RC"),
        code('echo "$rc"'),
        sh('if [ "$rc" -eq 0 ]; then {wait}; fi', wait=WAIT_FOR_BAN),
        marker("AFTER_BAN"),
        code("nft list ruleset 2>&1"),
        marker("UNBAN"),
        code('fail2ban-client set "$jail" unbanip "$addr" 2>&1'),
        code("rc=$?"),
        marker("UNBAN_RC"),
        code('echo "$rc"'),
        sh('if [ "$rc" -eq 0 ]; then {wait}; fi', wait=WAIT_FOR_UNBAN),
        marker("AFTER_UNBAN"),
        code("nft list ruleset 2>&1"),
        code("true"),
    )


def refuse_test_address(address: str) -> CheckResult | None:
    """A fail unless the address is a documentation address (192.0.2.0/24), else None."""
    try:
        if ipaddress.ip_address(address) in TEST_NETWORK:
            return None
    except ValueError:
        pass
    return fail(
        "fail2ban.test_ban",
        f"refused to test-ban {address or '(empty)'}: only {TEST_NETWORK} may be used",
        f"address parameter: {address!r}",
        "the step definition must name a documentation address such as 192.0.2.77",
    )


def lines_naming(ruleset: str, address: str) -> list[str]:
    """Ruleset lines that name the address exactly (192.0.2.7 is not 192.0.2.77)."""
    pattern = re.compile(rf"(?<![\d.]){re.escape(address)}(?![\d])")
    return [line.strip() for line in ruleset.splitlines() if pattern.search(line)]


def judge_test_ban(jail: str, address: str, sections: Mapping[str, str]) -> CheckResult:
    """The ban showed up in the firewall and the unban removed it."""
    cid = "fail2ban.test_ban"
    refused = refuse_test_address(address)
    if refused:
        return refused
    ban_rc = exit_code(sections.get("BAN_RC", ""))
    unban_rc = exit_code(sections.get("UNBAN_RC", ""))
    banned = lines_naming(sections.get("AFTER_BAN", ""), address)
    left = lines_naming(sections.get("AFTER_UNBAN", ""), address)
    evidence = "\n".join(
        [
            f"banip {address} in {jail}: exit {ban_rc}: {sections.get('BAN', '').strip()}",
            f"ruleset after the ban: {'; '.join(banned) or 'no line names ' + address}",
            f"unbanip: exit {unban_rc}: {sections.get('UNBAN', '').strip()}",
            f"ruleset after the unban: {'; '.join(left) or 'no line names ' + address}",
        ]
    )
    if ban_rc == NOT_FOUND:
        return not_installed(cid, sections.get("BAN", ""))
    if ban_rc != 0:
        return fail(
            cid,
            f"fail2ban refused to ban {address} in the {jail} jail",
            evidence,
            f"{JOURNAL_HINT}; the jail must be running (sudo fail2ban-client status)",
        )
    if not banned:
        return fail(
            cid,
            "a ban does not reach the firewall",
            evidence,
            f"{RERUN_FAIL2BAN} (banaction = nftables-multiport); {JOURNAL_HINT} shows the "
            "action's nft errors",
        )
    if left:
        return fail(
            cid,
            f"the unban left {address} in the firewall",
            evidence,
            f"remove it with: sudo fail2ban-client set {shlex.quote(jail)} unbanip {address}; "
            f"{JOURNAL_HINT}",
        )
    return ok(cid, "a test ban reached the firewall and the unban removed it", evidence)


@check("fail2ban.test_ban")
def trial_ban_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """A ban of a documentation address shows up in nftables, and its unban removes it."""
    jail, address = str(params["jail"]), str(params["address"])
    refused = refuse_test_address(address)
    if refused:
        return refused
    timeout = 60 + TEST_BAN_LOCK_WAIT_S + ANSWER_WAIT_S
    output = ctx.remote.run(trial_ban_script(jail, address), timeout=timeout).stdout
    return judge_test_ban(jail, address, split_sections(output))


# ----------------------------------------------------------------------------- filter_matches


@check("fail2ban.filter_matches")
def filter_matches_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The filter matches chapter 55's flood lines, and only those, with the right host."""
    filter_name = str(params["filter"])
    if not FILTER_NAME.match(filter_name):
        return fail(
            "fail2ban.filter_matches",
            f"'{filter_name}' is not a filter name",
            f"filter parameter: {filter_name!r}",
            "the step definition must name a file of /etc/fail2ban/filter.d without .conf",
        )
    result = ctx.remote.run(filter_matches_script(filter_name), timeout=60)
    return judge_filter_matches(filter_name, result.stdout, result.exit_code)
