"""The run that installs the packages of a whole run in one apt transaction (wizard.apply
install_script), and the start of what it held back by each step's apply, through a real
`sh`: apt-get, dpkg-query and systemctl are small fakes on PATH, the journal and policy-rc.d
live in a temporary folder. However the install ends (done, apt failed, a signal, kill -9
then recovery's cleanup), no policy-rc.d of the wizard stays behind, and one of the server's
own is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from wizard.answers import Answers
from wizard.apply import (
    BROUGHT_ALONG,
    POLICY_MARK,
    _held_lines,
    apply_script,
    cleanup_script,
    install_cleanup_script,
    install_script,
    policy_rc_d,
)
from wizard.catalog import load_catalog
from wizard.journal import RunPaths
from wizard.plan import Plan
from wizard.resume import parse_recovery, recovery_script
from wizard.shell import code, script, sh

RUN = "20261207T000000000Z-abcdef"


def fake(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def server(tmp_path: Path) -> dict[str, Path]:
    """A journal folder, a bin folder of fakes, where policy-rc.d and the held list go."""
    journal = tmp_path / "runs" / RUN
    journal.mkdir(parents=True)
    (journal / "status").write_text("started\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return {
        "root": tmp_path,
        "journal": journal,
        "bin": bin_dir,
        "policy": tmp_path / "sbin" / "policy-rc.d",
        "held": tmp_path / "run" / "held",
        "calls": tmp_path / "calls",
    }


def local(text: str, server: dict[str, Path]) -> str:
    """The script with the run's journal in the temporary folder."""
    return text.replace(RunPaths(RUN).dir, str(server["journal"])).replace(
        RunPaths(RUN).backup_dir, str(server["root"] / "backup")
    )


def start_install(server: dict[str, Path], apt_body: str) -> subprocess.Popen[str]:
    """The install's detached script under sh, apt-get being `apt_body`."""
    (server["policy"].parent).mkdir(exist_ok=True)
    (server["journal"] / "cleanup.sh").write_text(
        str(install_cleanup_script(str(server["policy"])))
    )
    fake(server["bin"], "apt-get", apt_body)
    text = install_script(
        ("mariadb-server", "fail2ban"), RunPaths(RUN), str(server["policy"]), str(server["held"])
    )
    env = {**os.environ, "PATH": f"{server['bin']}:{os.environ['PATH']}"}
    return subprocess.Popen(
        ["sh", "-c", local(str(text), server)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def status(server: dict[str, Path]) -> str:
    return (server["journal"] / "status").read_text().strip()


# apt-get as dpkg runs it: each package's postinst asks policy-rc.d before starting its unit,
# as deb-systemd-invoke (unit, action) and invoke-rc.d (--quiet, init script, action) do.
POSTINSTS = (
    'DPKG_MAINTSCRIPT_PACKAGE=mariadb-server "$POLICY" mariadb.service start; echo "rc=$?"\n'
    'DPKG_MAINTSCRIPT_PACKAGE=fail2ban "$POLICY" --quiet fail2ban start; echo "rc=$?"\n'
    'DPKG_MAINTSCRIPT_PACKAGE=fail2ban "$POLICY" fail2ban.service stop; echo "rc=$?"\n'
    "echo 'Setting up fail2ban (1.0.2-2) ...'\n"
)


def test_the_install_holds_every_start_back_writes_them_down_and_removes_policy_rc_d(server):
    body = f'POLICY={server["policy"]}\n[ -x "$POLICY" ] || exit 100\n' + POSTINSTS
    run = start_install(server, body)
    out, _ = run.communicate(timeout=30)
    assert run.returncode == 0, out
    assert status(server) == "done"
    # Each start was refused (101, "not now"); the stop too, and not written down.
    apt_log = (server["journal"] / "apt.log").read_text()
    assert apt_log.count("rc=101") == 3, apt_log
    assert server["held"].read_text().splitlines() == [
        "mariadb-server mariadb.service start",
        "fail2ban fail2ban start",
    ]
    assert "@@APT Setting up fail2ban" in out
    assert "held back until their step's files are in place: fail2ban mariadb.service\n" in out
    assert not server["policy"].exists()


def test_a_failed_transaction_leaves_no_policy_rc_d(server):
    run = start_install(server, 'echo "E: Unable to locate package fail2ban"; exit 100\n')
    out, _ = run.communicate(timeout=30)
    assert run.returncode != 0
    assert status(server) == "failed"
    assert "@@FAIL apt-get install failed" in out
    assert not server["policy"].exists()


def stop_during_apt_get(
    server: dict[str, Path], start: Callable[[dict[str, Path], str], subprocess.Popen[str]]
) -> str:
    """Start a run whose apt-get hangs (`start`: start_install or start_step_apply), SIGTERM
    it once apt-get runs under the hold, and return what the run printed."""
    run = start(server, "touch $0.running; sleep 30\n")
    wait_for(server["bin"] / "apt-get.running")
    assert server["policy"].exists()
    os.killpg(run.pid, signal.SIGTERM)
    out, _ = run.communicate(timeout=30)
    return out


def test_a_transaction_stopped_by_a_signal_leaves_no_policy_rc_d(server):
    out = stop_during_apt_get(server, start_install)
    assert status(server) == "failed", out
    assert "@@FAIL the install stopped early" in out
    assert not server["policy"].exists()


def test_a_transaction_killed_outright_is_cleaned_up_by_recovery(server):
    run = start_install(server, "touch $0.running; sleep 30\n")
    wait_for(server["bin"] / "apt-get.running")
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=30)
    # kill -9 skips every trap: the hold is still there, the run still "started".
    assert server["policy"].exists() and status(server) == "started"
    # What recovery does on the next connect to a "started" run whose owner is gone.
    recovery = str(recovery_script([RUN]))
    assert RunPaths(RUN).cleanup in recovery
    paths = RunPaths(RUN)
    (server["journal"] / "step").write_text("packages\n")
    text = (
        local(str(recovery), server)
        .replace(paths.cleanup, str(server["journal"] / "cleanup.sh"))
        .replace("vw_alive " + RUN, "false")
    )
    done = subprocess.run(["sh", "-c", text], capture_output=True, text=True, timeout=30)
    assert not server["policy"].exists(), done.stdout + done.stderr
    assert status(server) == "failed"
    (notice,) = parse_recovery(done.stdout)
    assert "hold on the daemons is lifted" in notice.notice and "dpkg --configure -a" in (
        notice.notice
    )


def test_a_policy_rc_d_of_the_servers_own_is_left_as_it_is(server):
    server["policy"].parent.mkdir()
    server["policy"].write_text("#!/bin/sh\n# the provider's\nexit 0\n")
    run = start_install(server, "exit 0\n")
    out, _ = run.communicate(timeout=30)
    assert run.returncode == 0, out
    assert "a policy-rc.d of its own: left as it is" in out
    assert server["policy"].read_text() == "#!/bin/sh\n# the provider's\nexit 0\n"


def test_the_policy_rc_d_is_marked_as_the_wizards(server):
    assert POLICY_MARK in str(policy_rc_d(str(server["held"])))


def test_the_policy_rc_d_holds_only_what_the_wizards_own_apt_get_starts(server):
    """Another apt (unattended-upgrades', the user's) that takes the dpkg lock while the hold
    is in place starts and restarts its daemons as usual: nothing refused, nothing written."""
    policy = server["root"] / "policy-rc.d"
    policy.write_text(str(policy_rc_d(str(server["held"]))))
    server["held"].parent.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "VPS_WIZARD_HOLD"}
    for action in ("start", "restart", "stop"):
        other = subprocess.run(["sh", str(policy), "mariadb.service", action], env=env)
        assert other.returncode == 0
    assert not server["held"].exists()
    mine = subprocess.run(
        ["sh", str(policy), "mariadb.service", "start"], env={**env, "VPS_WIZARD_HOLD": "1"}
    )
    assert mine.returncode == 101
    assert server["held"].read_text() == "- mariadb.service start\n"


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


# dpkg's database as BROUGHT_ALONG asks for it (status, package, provides, pre-depends,
# depends, recommends): the mail and database steps' packages and what they bring.
DPKG = (
    ("ii ", "postfix", "mail-transport-agent", "", "libc6, perl:any, cpio", "python3"),
    ("ii ", "dovecot-imapd", "imap-server", "", "dovecot-core (= 1:2.3.19.1-2)", ""),
    ("ii ", "dovecot-core", "", "", "libc6 (>= 2.34), openssl | libssl3", ""),
    ("ii ", "mariadb-server", "virtual-mysql-server", "", "mariadb-server-core (>= 1:10.11)", ""),
    ("ii ", "mariadb-server-core", "", "", "libc6", ""),
    ("ii ", "perl", "", "perl-base", "", ""),
    ("ii ", "perl-base", "", "", "", ""),
    ("ii ", "libc6", "", "", "", ""),
    ("ii ", "libssl3", "", "", "", ""),
    ("ii ", "fail2ban", "", "", "python3:any", "nftables | iptables"),
    ("rc ", "exim4-daemon-light", "mail-transport-agent", "", "", ""),
)


def installed_packages(server: dict[str, Path], rows: tuple[tuple[str, ...], ...]) -> None:
    """A dpkg-query that answers these rows, whatever it is asked."""
    table = "".join("\t".join(row[:4]) + f", {row[4]}, {row[5]}\n" for row in rows)
    (server["root"] / "dpkg-status").write_text(table)
    fake(server["bin"], "dpkg-query", f"cat {server['root'] / 'dpkg-status'}\n")


def held_start(
    server: dict[str, Path], step_id: str, held: str, systemctl: str = ""
) -> subprocess.CompletedProcess[str]:
    """A step's held-start lines under sh: dpkg-query answers DPKG, systemctl writes down what
    it was asked (or runs `systemctl`)."""
    server["held"].parent.mkdir(exist_ok=True)
    server["held"].write_text(held)
    installed_packages(server, DPKG)
    active = server["root"] / "active"
    active.touch()
    # systemctl: what it was asked, in `calls`; a started unit is active from then on; a
    # socket is triggering the service of its name.
    fake(
        server["bin"],
        "systemctl",
        systemctl
        or f"""echo "$*" >> {server["calls"]}
case "$1 $2" in
  "-q is-active") shift 3; for u in "$@"; do grep -qx "$u" {active} && exit 0; done; exit 1;;
  "show -p") echo "${{6%.socket}}.service";;
  "start --") echo "$3" >> {active};;
esac
""",
    )
    step = load_catalog().get(step_id)
    plan = Plan(step, Answers(step_id, {}), (), (), (), (), step.packages)
    text = script(
        code('D="$1"; log() { echo "@@LOG $*"; }; rollback() { echo "@@FAIL $1 | $2"; exit 1; }'),
        *_held_lines(plan, str(server["held"])),
    )
    env = {**os.environ, "PATH": f"{server['bin']}:{os.environ['PATH']}"}
    return subprocess.run(
        ["sh", "-c", str(text), "sh", str(server["journal"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


HELD = (
    "mariadb-server mariadb.service start\n"
    "dovecot-core dovecot.socket start\n"
    "dovecot-core dovecot.service start\n"
    "postfix postfix.service start\n"
    "fail2ban fail2ban.service start\n"
)


def started(server: dict[str, Path]) -> list[str]:
    calls = server["calls"].read_text().splitlines()
    return [call.split()[-1] for call in calls if call.startswith("start ")]


def test_a_step_starts_what_its_packages_brought_and_leaves_the_others_held(server):
    done = held_start(server, "mail", HELD)
    assert done.returncode == 0, done.stdout + done.stderr
    # dovecot.service came with dovecot-core, a dependency of the step's dovecot-imapd; its
    # socket cannot listen while the service runs, and is left to the next boot.
    assert started(server) == ["dovecot.service", "postfix.service"]
    assert "starting postfix.service, held back while postfix was installed" in done.stdout
    assert server["held"].read_text() == (
        "mariadb-server mariadb.service start\nfail2ban fail2ban.service start\n"
    )
    done = held_start(server, "database", server["held"].read_text())
    assert started(server)[-1] == "mariadb.service"
    assert server["held"].read_text() == "fail2ban fail2ban.service start\n"


def test_a_unit_the_step_started_already_is_not_started_again(server):
    (server["root"] / "active").write_text("mariadb.service\n")
    done = held_start(server, "database", "mariadb-server mariadb.service start\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert started(server) == [] and "starting" not in done.stdout
    assert server["held"].read_text() == ""


def test_a_held_daemon_that_does_not_start_rolls_the_step_back(server):
    failing = "echo 'Job for mariadb.service failed.'; exit 1\n"
    failed = held_start(server, "database", "mariadb-server mariadb.service start\n", failing)
    assert failed.returncode == 1
    assert "did not start | mariadb.service: Job for mariadb.service failed." in failed.stdout
    # Still held: the step's next apply starts it.
    assert server["held"].read_text() == "mariadb-server mariadb.service start\n"


def test_a_step_without_packages_for_its_answers_has_no_held_lines():
    step = load_catalog().get("entropy")
    assert _held_lines(Plan(step, Answers("entropy", {}), (), (), (), (), ())) == []
    # haveged answered yes: the step's [[install]] makes it the step's to start.
    with_haveged = Plan(step, Answers("entropy", {}), (), (), (), (), ("haveged",))
    assert "haveged" in str(_held_lines(with_haveged)[0])


def start_step_apply(server: dict[str, Path], apt_body: str) -> subprocess.Popen[str]:
    """The database step's own apply (no run of several steps: mariadb-server missing) under
    sh: apt-get is `apt_body`, systemctl writes down what it is asked, dpkg-query answers
    DPKG."""
    server["policy"].parent.mkdir(exist_ok=True)
    step = load_catalog().get("database")
    plan = Plan(step, Answers("database", {}), (), (), ("mariadb-server",), (), step.packages)
    paths = RunPaths(RUN)

    policy, held = str(server["policy"]), str(server["held"])
    (server["journal"] / "cleanup.sh").write_text(
        local(str(cleanup_script(plan, paths, policy)), server)
    )
    fake(server["bin"], "apt-get", apt_body)
    installed_packages(server, DPKG)
    fake(
        server["bin"],
        "systemctl",
        f'echo "$*" >> {server["calls"]}\ncase "$1" in -q) exit 1;; esac\n',
    )
    env = {**os.environ, "PATH": f"{server['bin']}:{os.environ['PATH']}"}
    return subprocess.Popen(
        ["sh", "-c", local(str(apply_script(plan, paths, 30, policy, held)), server)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_single_steps_apt_get_holds_its_daemons_until_the_step_starts_them(server):
    """Not only a run's install: a step applied alone holds what its apt-get would start
    (nginx must not start while Apache still holds port 80, MariaDB not with its defaults)."""
    body = f'POLICY={server["policy"]}\n[ -x "$POLICY" ] || exit 100\n' + POSTINSTS
    run = start_step_apply(server, body)
    out, _ = run.communicate(timeout=30)
    assert run.returncode == 0, out
    assert status(server) == "done", out
    assert (server["journal"] / "apt.log").read_text().count("rc=101") == 3
    assert "starting mariadb.service, held back while mariadb-server was installed" in out
    assert started(server) == ["mariadb.service"]
    # fail2ban is no package of this step: still held, for its own step.
    assert server["held"].read_text() == "fail2ban fail2ban start\n"
    assert not server["policy"].exists()


def test_a_single_steps_apt_get_that_fails_or_is_stopped_leaves_no_policy_rc_d(server):
    failed = start_step_apply(server, 'echo "E: Unable to locate package"; exit 100\n')
    out, _ = failed.communicate(timeout=30)
    assert status(server) == "failed" and "@@FAIL apt-get install failed" in out
    assert not server["policy"].exists()
    (server["journal"] / "status").write_text("started\n")
    out = stop_during_apt_get(server, start_step_apply)
    assert status(server) == "failed", out
    assert not server["policy"].exists()


def brought_along(
    server: dict[str, Path], rows: tuple[tuple[str, ...], ...], *roots: str
) -> set[str]:
    """BROUGHT_ALONG under sh over these rows of dpkg's database: the names it prints."""
    installed_packages(server, rows)
    env = {**os.environ, "PATH": f"{server['bin']}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["sh", "-c", str(sh("{brought} {roots}", brought=BROUGHT_ALONG, roots=list(roots)))],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.startswith(" ") and out.endswith(" \n")  # each name between spaces
    return set(out.split())


def test_what_a_steps_packages_brought_along_is_every_installed_dependency(server):
    # Depends, Pre-Depends (perl's perl-base), Recommends, an arch qualifier (perl:any) and a
    # version taken off; what is not installed (cpio, python3) or only configured is left.
    assert brought_along(server, DPKG, "postfix") == {"postfix", "libc6", "perl", "perl-base"}
    # Each alternative that is installed (libssl3 for "openssl | libssl3").
    assert brought_along(server, DPKG, "dovecot-imapd") == {
        "dovecot-imapd",
        "dovecot-core",
        "libc6",
        "libssl3",
    }
    assert brought_along(server, DPKG, "fail2ban") == {"fail2ban"}


def test_a_virtual_dependency_brings_its_installed_providers_and_loops_end(server):
    rows = (
        *DPKG,
        ("ii ", "bsd-mailx", "mailx", "", "default-mta | mail-transport-agent", ""),
        ("ii ", "loop-a", "", "", "loop-b", ""),
        ("ii ", "loop-b", "", "", "loop-a, bsd-mailx", ""),
    )
    # postfix provides mail-transport-agent; exim4-daemon-light does too, but only its
    # configuration files are left (rc).
    assert brought_along(server, rows, "loop-a") == {
        "loop-a",
        "loop-b",
        "bsd-mailx",
        "postfix",
        "libc6",
        "perl",
        "perl-base",
    }


def test_a_package_name_reaches_awk_as_it_is(server):
    # Arguments, not awk -v: a backslash in a name is not read as an escape.
    assert brought_along(server, DPKG, "odd\\tname") == {"odd\\tname"}
