"""The scripts the checks send carry each parameter as one word, whatever it holds.

Every script is built with a hostile value in each of its text parameters (quotes, $(),
backticks, ;, spaces), parsed with `sh -n`, then run under a PATH whose tools are fakes that
record the arguments they were given. A value that reaches its tool as anything but one
argument, or a payload that runs (it would create the canary file), fails the test.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wizard.checks import (
    dane,
    dns,
    dnssec,
    fail2ban,
    fail2ban_regex,
    mail,
    mail_auth,
    tls,
    vhost,
    web,
)
from wizard.shell import Shell
from wizard.transient import TransientCommandError

# A fake tool: writes its name, REQUESTS_CA_BUNDLE (certbot's CA bundle) and its arguments,
# NUL-separated, into a file of its own (the tools of a pipeline run at the same time), named
# by its process id; noclobber (set -C) falls back to mktemp should an id come round again.
FAKE_TOOL = """#!/bin/sh
set -C
record() { printf '%s\\0' "${0##*/}" "${REQUESTS_CA_BUNDLE-}" "$@"; }
{ record "$@" > "$VW_CALLS/$$"; } 2>/dev/null || record "$@" > "$(mktemp "$VW_CALLS/c.XXXXXX")"
"""
FAKED = (
    *("awk", "cat", "certbot", "fail2ban-client", "fail2ban-regex", "find", "grep"),
    *("journalctl", "mailq", "named-checkzone", "nft", "openssl", "readlink", "rndc"),
    *("sed", "sendmail", "sha256sum", "sleep", "stat", "systemctl", "systemd-run"),
)


@dataclass(frozen=True)
class Call:
    """One run of a fake tool."""

    tool: str
    env_ca_bundle: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Run:
    """What a script did under the fakes (the calls in no particular order)."""

    calls: list[Call]
    stdout: str

    def args_of(self, tool: str) -> list[tuple[str, ...]]:
        """The argument lists `tool` was run with, sorted."""
        return sorted(call.args for call in self.calls if call.tool == tool)


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[[Shell], Run]:
    """Check a script parses, run it under the fake tools and return what they were given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in FAKED:
        (bin_dir / tool).write_text(FAKE_TOOL)
        (bin_dir / tool).chmod(0o755)
    runs = iter(range(1000))

    def run(script: Shell) -> Run:
        assert isinstance(script, Shell)
        parsed = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
        assert parsed.returncode == 0, (parsed.stderr, script)
        calls = tmp_path / f"calls{next(runs)}"
        calls.mkdir()
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "VW_CALLS": str(calls)}
        result = subprocess.run(
            ["sh"], input=script, text=True, capture_output=True, env=env, timeout=30
        )
        recorded = []
        for record in calls.iterdir():
            tool, ca_bundle, *args = record.read_bytes().decode().split("\x00")[:-1]
            recorded.append(Call(tool, ca_bundle, tuple(args)))
        return Run(recorded, result.stdout)

    return run


CANARY = Path("/tmp/vps-wizard-test-canary-checks")
HOSTILE = {
    "single quote": "o'brien",
    "double quotes": 'say "hi"',
    "spaces": "two  words ",
    "command substitution": f"$(touch {CANARY})",
    "backticks": f"`touch {CANARY}`",
    "semicolon": f"x; touch {CANARY}",
    "everything": f'a\'b "c" $(touch {CANARY}) `touch {CANARY}`; touch {CANARY} & | \\ *',
}


@pytest.fixture(params=list(HOSTILE.values()), ids=list(HOSTILE))
def hostile(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each hostile value in turn; the canary must not exist before or after."""
    CANARY.unlink(missing_ok=True)
    yield request.param
    assert not CANARY.exists(), "a payload ran"


# ----------------------------------------------------------------------------- fail2ban


def bans(done) -> list[tuple[str, ...]]:
    """fail2ban-client's calls: the stand-in answers each, so no `ping` waits for its socket."""
    calls = done.args_of("fail2ban-client")
    assert ("ping",) not in calls, calls
    return calls


def test_test_ban_gives_the_jail_as_one_word(run_script, hostile: str) -> None:
    done = run_script(fail2ban.trial_ban_script(hostile, "192.0.2.77"))
    assert bans(done) == [
        ("set", hostile, "banip", "192.0.2.77"),
        ("set", hostile, "unbanip", "192.0.2.77"),
    ]


def test_test_ban_gives_the_address_as_one_word(run_script, hostile: str) -> None:
    done = run_script(fail2ban.trial_ban_script("sshd", hostile))
    assert [args[3] for args in bans(done)] == [hostile, hostile]


def test_filter_script_gives_the_filter_file_as_one_word(run_script, hostile: str) -> None:
    done = run_script(fail2ban_regex.filter_matches_script(hostile))
    [args] = done.args_of("fail2ban-regex")
    assert args[-1] == f"/etc/fail2ban/filter.d/{hostile}.conf"


# ----------------------------------------------------------------------------- tls and dane


def test_key_match_gives_each_file_as_one_word(run_script, hostile: str) -> None:
    cert, key, ca_file = f"/c/{hostile}.pem", f"/k/{hostile}.key", f"/ca/{hostile}"
    done = run_script(tls.key_match_script(cert, key, ca_file))
    assert done.args_of("openssl") == [
        ("pkey", "-pubout", "-in", key),
        ("x509", "-noout", "-pubkey", "-in", cert),
    ]
    assert done.args_of("cat") == [(ca_file,)]


def test_renewal_dry_run_gives_domain_server_and_bundle_as_one_word(
    run_script, hostile: str
) -> None:
    domain, bundle, server = f"d{hostile}", f"/b/{hostile}", f"https://{hostile}/dir"
    done = run_script(tls.renewal_script(domain, bundle, server))
    [certbot] = [call for call in done.calls if call.tool == "certbot"]
    assert certbot.args[-4:] == ("--cert-name", domain, "--server", server)
    assert certbot.env_ca_bundle == bundle


def test_dane_scripts_give_the_lineage_as_one_word(run_script, hostile: str) -> None:
    lineage = f"/etc/letsencrypt/live/{hostile}"
    pending = run_script(dane.pending_script(lineage))
    assert pending.args_of("cat") == [(f"{lineage}/next-fullchain.pem",)]
    renewal = run_script(dane.renewal_script(lineage))
    assert renewal.args_of("readlink") == [(f"{lineage}/next-fullchain.pem",)]


# ----------------------------------------------------------------------------- vhost and web


def test_permissions_give_root_and_owner_as_one_word(run_script, hostile: str) -> None:
    root, owner = f"/var/www/{hostile}", f"u{hostile}"
    done = run_script(vhost.permissions_script(root, owner))
    assert done.args_of("stat") == [("-c", "%a %U %G %n", root, f"{root}/public")]
    finds = done.args_of("find")
    assert [args[0] for args in finds] == [f"{root}/public"] * 2
    [wrong] = [args for args in finds if "-user" in args]
    assert wrong[wrong.index("-user") + 1] == owner


def test_php_probe_is_written_to_the_path_given(run_script, tmp_path: Path) -> None:
    path = str(tmp_path / "vw-probe-0123.php")
    done = run_script(web.write_probe_script(path, "0123"))
    assert Path(path).read_text() == web.probe_source("0123")
    assert oct(Path(path).stat().st_mode & 0o777) == "0o644"
    [timer] = done.args_of("systemd-run")
    assert timer[-3:] == ("/bin/rm", "-f", path)


def test_a_probe_path_systemd_would_not_give_back_is_refused_before_anything_runs(
    hostile: str, tmp_path: Path
) -> None:
    """Its removal goes through systemd-run (wizard.transient): refused, not sent."""
    with pytest.raises(TransientCommandError):
        web.write_probe_script(str(tmp_path / hostile / "vw-probe-0123.php"), "0123")


# ----------------------------------------------------------------------------- mail


def test_delivery_gives_the_maildir_and_the_token_as_one_word(
    run_script, hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail, "DELIVERY_WAIT", 1)  # no message comes: wait 1 s, not 15
    maildir, token = f"/var/mail/vhosts/{hostile}/bob", f"vps-{hostile}"
    done = run_script(mail.delivery_script(maildir, token))
    searches = done.args_of("grep")
    waits = [args for args in searches if args[0] == "-rlF"]
    # No message arrives here, so it looks the whole time, each time with the same words.
    assert waits == [("-rlF", "--", token, f"{maildir}/new", f"{maildir}/cur")] * (
        mail.DELIVERY_WAIT * 2
    )
    assert ("-F", "-A", "3", "--", token[:10]) in searches


def test_dkim_key_script_gives_the_key_name_as_one_word(run_script, hostile: str) -> None:
    done = run_script(mail_auth.server_key_script(f"d{hostile}", f"s{hostile}"))
    [args] = done.args_of("awk")
    assert args[:2] == ("-v", f"n=s{hostile}._domainkey.d{hostile}")
    assert args[-1] == mail_auth.KEY_TABLE


def test_dkim_message_reaches_sendmail_whole(
    run_script, hostile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sendmail is run by its full path: point that path at a fake that also keeps its input.
    sendmail = tmp_path / "sendmail"
    keep_input = 'while IFS= read -r line; do printf "%s\\n" "$line"; done > "$VW_CALLS.in"\n'
    sendmail.write_text(FAKE_TOOL + keep_input)
    sendmail.chmod(0o755)
    monkeypatch.setattr(mail_auth, "SENDMAIL", str(sendmail))
    monkeypatch.setattr(mail_auth, "DELIVERY_WAIT", 1)  # no message comes: wait 1 s, not 15
    domain, mailbox, token = f"d{hostile}", f"m{hostile}", f"vps-wizard-dkim-{hostile}"
    done = run_script(mail_auth.signed_message_script(domain, mailbox, token))
    assert done.args_of("sendmail") == [("-f", f"postmaster@{domain}", f"{mailbox}@{domain}")]
    [message] = [path.read_text() for path in tmp_path.glob("calls*.in")]
    assert f"To: <{mailbox}@{domain}>\nSubject: vps-wizard DKIM check {token}\n\n" in message
    waits = {args for args in done.args_of("grep") if args[0] == "-rlF"}
    maildir = f"/var/mail/vhosts/{domain}/{mailbox}"
    assert waits == {("-rlF", "--", token, f"{maildir}/new", f"{maildir}/cur")}
    assert "exit 0" in done.stdout


# ----------------------------------------------------------------------------- dns


def test_zone_scripts_give_the_domain_as_one_word(run_script, hostile: str) -> None:
    domain = f"ex{hostile}"
    zone_file = f"/var/lib/bind/vps-wizard/db.{domain}"
    zone = run_script(dns.zone_script(domain))
    assert zone.args_of("named-checkzone") == [(domain, zone_file)]
    assert zone.args_of("rndc") == [("zonestatus", domain)]
    serial = run_script(dns.serial_script(domain))
    assert serial.args_of("cat") == [(zone_file,)]
    resign = run_script(dnssec.resign_script(domain))
    assert resign.args_of("rndc") == [("dnssec", "-status", domain), ("zonestatus", domain)]
    assert resign.args_of("sed")[0][-1] == zone_file
