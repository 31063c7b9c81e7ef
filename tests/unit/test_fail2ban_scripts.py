"""The fail2ban checks' shell scripts, run by a real shell against stand-in fail2ban-client and
nft programs: a jail list that fills in late, and trial bans of one server run at once."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wizard.checks.base import CheckStatus, exit_code, split_sections
from wizard.checks.fail2ban import (
    ignoreip_script,
    jails_script,
    judge_ignoreip,
    judge_jails,
    judge_test_ban,
    trial_ban_script,
)


def stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def run(script: str, bin_dir: Path) -> str:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout


def late_jails(tmp_path: Path, empty_answers: int, jails: str) -> Path:
    """A fail2ban-client whose status lists no jail for its first answers, as fail2ban does
    while it reads its configuration after a restart."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    counter = tmp_path / "asked"
    counter.write_text("0")
    stand_in(
        bin_dir,
        "fail2ban-client",
        f"""n=$(cat {counter}); echo $((n + 1)) > {counter}
echo "Status"
echo "|- Number of jail:      1"
if [ "$n" -lt {empty_answers} ]; then echo "\\`- Jail list:"; else
printf '\\`- Jail list:\\t%s\\n' '{jails}'; fi
""",
    )
    return bin_dir


def judged_jails(expected: list[str], bin_dir: Path):
    # Eight tries (2 s), not the check's 40: the late answers below come well within them.
    sections = split_sections(run(str(jails_script(expected, polls=8)), bin_dir))
    return judge_jails(expected, sections["STATUS"], exit_code(sections["RC"]))


def test_jails_that_come_up_after_the_restart_are_waited_for(tmp_path: Path) -> None:
    bin_dir = late_jails(tmp_path, empty_answers=6, jails="postfix-auth, sshd")
    result = judged_jails(["sshd", "postfix-auth"], bin_dir)
    assert result.status == CheckStatus.OK, result


def test_a_jail_that_never_comes_up_fails_after_the_wait(tmp_path: Path) -> None:
    bin_dir = late_jails(tmp_path, empty_answers=0, jails="sshd")
    result = judged_jails(["sshd", "postfix-auth"], bin_dir)
    assert result.status == CheckStatus.FAIL
    assert "postfix-auth" in result.summary and "sshd" in result.evidence


def test_a_jail_name_is_never_a_pattern(tmp_path: Path) -> None:
    # "ssh*" as a glob or a case pattern would match sshd; the check must look for it as named.
    bin_dir = late_jails(tmp_path, empty_answers=0, jails="sshd")
    result = judged_jails(["ssh*"], bin_dir)
    assert result.status == CheckStatus.FAIL


def test_trial_bans_run_at_once_do_not_undo_each_other(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ruleset = tmp_path / "ruleset"
    ruleset.write_text("")
    # nft takes its time to list, as on a busy server: without the lock, one trial's unban
    # lands between another's ban and its look at the ruleset.
    stand_in(bin_dir, "nft", f"sleep 0.2; cat {ruleset}\n")
    stand_in(
        bin_dir,
        "fail2ban-client",
        f"""case "$3" in
banip) grep -qxF "ip saddr $4 drop" {ruleset} || echo "ip saddr $4 drop" >> {ruleset};;
unbanip) grep -vxF "ip saddr $4 drop" {ruleset} > {ruleset}.new; mv {ruleset}.new {ruleset};;
esac
echo 1
""",
    )
    lock = str(tmp_path / "lock")
    shell = str(trial_ban_script("sshd", "192.0.2.77", lock=lock))
    # Each trial starts while the one before it is between its ban and its unban.
    with ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(lambda n: run(f"sleep {0.3 * n}\n{shell}", bin_dir), range(3)))
    results = [judge_test_ban("sshd", "192.0.2.77", split_sections(out)) for out in outputs]
    assert [r.status for r in results] == [CheckStatus.OK] * 3, results
    assert ruleset.read_text() == ""


def late_socket(tmp_path: Path, answers_after: int) -> Path:
    """A fail2ban-client whose server answers from its `answers_after`-th call on (every call
    counted, pings included), as fail2ban's socket after a restart; before, it fails as the
    real one does. It bans and lists ignoreip."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    counter = tmp_path / "calls"
    counter.write_text("0")
    stand_in(bin_dir, "nft", f"cat {tmp_path / 'ruleset'} 2>/dev/null\n")
    stand_in(
        bin_dir,
        "fail2ban-client",
        f"""n=$(cat {counter}); echo $((n + 1)) > {counter}
if [ "$n" -lt {answers_after} ]; then
  echo "Failed to access socket path: /var/run/fail2ban/fail2ban.sock. Is fail2ban running?" >&2
  exit 255
fi
case "$1 $3" in
"ping "*) echo "Server replied: pong";;
"get "*) echo "These IP addresses/networks are ignored:"; echo "\\`- 192.0.2.10";;
"set banip") echo "ip saddr $4 drop" > {tmp_path / "ruleset"}; echo 1;;
"set unbanip") : > {tmp_path / "ruleset"}; echo 1;;
esac
""",
    )
    return bin_dir


def calls(tmp_path: Path) -> int:
    return int((tmp_path / "calls").read_text())


@pytest.mark.parametrize("kind", ["ignoreip", "test_ban"])
def test_the_checks_wait_for_the_socket_a_restart_brings_late(tmp_path: Path, kind: str) -> None:
    """systemd calls fail2ban active before its socket answers: a check asks again once it
    does, and judges the answer, not the refusal."""
    bin_dir = late_socket(tmp_path, answers_after=5)
    if kind == "ignoreip":
        out = run(str(ignoreip_script()), bin_dir)
        assert judge_ignoreip("192.0.2.10", out, 0).status is CheckStatus.OK, out
    else:
        sections = split_sections(run(str(trial_ban_script("sshd", "192.0.2.77")), bin_dir))
        assert judge_test_ban("sshd", "192.0.2.77", sections).status is CheckStatus.OK
    assert calls(tmp_path) > 5


@pytest.mark.parametrize("kind", ["ignoreip", "test_ban"])
def test_a_server_that_answers_is_asked_once_without_a_ping(tmp_path: Path, kind: str) -> None:
    """Each fail2ban-client is a Python start on the server: no ping before a question that
    is answered (ignoreip: one call; the trial: the ban and the unban)."""
    bin_dir = late_socket(tmp_path, answers_after=0)
    if kind == "ignoreip":
        run(str(ignoreip_script()), bin_dir)
        assert calls(tmp_path) == 1
    else:
        run(str(trial_ban_script("sshd", "192.0.2.77")), bin_dir)
        assert calls(tmp_path) == 2


def test_a_server_that_never_answers_is_judged_after_the_wait(tmp_path: Path) -> None:
    bin_dir = late_socket(tmp_path, answers_after=1000)
    shell = str(ignoreip_script())
    assert "-lt 40" in shell  # the wait: 40 pings, 2 here
    completed = subprocess.run(
        ["sh", "-c", shell.replace("-lt 40", "-lt 2")],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = judge_ignoreip("192.0.2.10", completed.stdout, completed.returncode)
    assert result.status is CheckStatus.FAIL and "socket" in result.evidence
