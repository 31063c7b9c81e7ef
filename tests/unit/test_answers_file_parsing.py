"""A whole answers file and the command line are checked before connecting, and every selected
step's answers before the first one changes anything. No server: the CLI is pointed at an
address nothing listens on, and its connection is recorded, never made."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wizard import cli
from wizard.answerfile import AnswersFile, validate_selection
from wizard.catalog import load_catalog
from wizard.errors import AnswerError, ConnectionFailed
from wizard.remote import Credentials, Remote, Target
from wizard.session import ConnectOptions, Session, _empty_facts
from wizard.state import HostRecord, StateStore

CATALOG = load_catalog()
NOWHERE = "root@127.0.0.1:9"
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEw4T4jNCSPapkuLfu7+Q8ATIzdYckufv30xd3CcG9ZG alice@laptop"
)
DAY_ONE = """\
[base]
fqdn = "server.example.net"
upgrade = false

[admin-user]
username = "alice"
"""


@pytest.fixture
def connects(monkeypatch) -> list[Target]:
    """The connections the wizard tried: recorded and refused, never made."""
    tried: list[Target] = []

    def connect(target, *args, **kwargs):
        tried.append(target)
        raise ConnectionFailed(f"test: no server at {target.host}:{target.port}")

    monkeypatch.setattr(Remote, "connect", connect)
    return tried


def run(tmp_path: Path, capsys, *args: str) -> tuple[int, str]:
    """vps-wizard ARGS with this test's own state and known_hosts: exit code and stderr."""
    code = cli.main(
        [*args, "--state", str(tmp_path / "state.db"), "--known-hosts", str(tmp_path / "kh")]
    )
    return code, capsys.readouterr().err


def answers_file(tmp_path: Path, content: str | bytes) -> str:
    path = tmp_path / "answers.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


@pytest.mark.parametrize(
    ("content", "said", "hint"),
    [
        (
            b'[base]\nfqdn = "caf\xe9.example.org"\n',
            "is not UTF-8 text: byte 0xe9 on line 2",
            "save it as UTF-8",
        ),
        ("[base]\nfqdn = server.example.net\n", "is not valid TOML", "fix that line"),
        ("[base]\nfqdn = server.example.net\n", "line 2, column 8): fqdn = server", "in quotes"),
        (DAY_ONE + "[admin-usr]\n", "no step admin-usr, did you mean admin-user?", "the steps"),
        ("[fail2ban]\nbantimee = '1h'\n", "no question bantimee, did you mean bantime?", "[fail2"),
        (
            DAY_ONE + "[ssh-hardening]\nport = 70000\n",
            "ssh-hardening.port: 70000: a port is between 1 and 65535",
            "correct [ssh-hardening] port in",
        ),
        ("[ssh-hardening]\nport = 22.9\n", "ssh-hardening.port: a port is a whole number", "port"),
        (
            "[dns-zone]\nipv4 = '2001:db8::1'\n",
            "dns-zone.ipv4: '2001:db8::1' is an IPv6 address",
            "correct [dns-zone] ipv4",
        ),
        (
            "[fail2ban]\nignore = ['fe80::1%1; 0.0.0.0/0']\n",
            "fail2ban.ignore: 'fe80::1%1; 0.0.0.0/0': a zone id",
            "correct [fail2ban] ignore",
        ),
        ("[fail2ban]\nmaxretry = 4\n", "fail2ban.maxretry: choose one of: 3, 5, 10", "maxretry"),
        ("port = 22\n", "'port = ...' stands outside any [step] table", "such as [base]"),
        ('[base]\n"\\u001b]0;owned\\u0007" = 1\n', "no question \\u001b]0;owned\\u0007", "fqdn"),
        ('[base]\nfqdn = "vps\\u001b[2J.example.org"\n', "U+001B", "correct [base] fqdn"),
    ],
)
def test_a_bad_answers_file_is_refused_before_connecting(
    tmp_path, capsys, connects, content, said, hint
):
    path = answers_file(tmp_path, content)
    for command in ("plan", "apply"):
        code, err = run(tmp_path, capsys, command, NOWHERE, "--answers", path, "--yes")
        assert code == 1
        assert err.startswith("vps-wizard: "), err
        assert said in err
        assert "\n  → " in err and hint in err.split("→", 1)[1]
        assert "internal error" not in err and "Traceback" not in err
        assert "\x1b" not in err
    assert connects == []


@pytest.mark.parametrize("command", ["plan", "apply", "verify"])
def test_an_unknown_step_option_is_refused_before_connecting(tmp_path, capsys, connects, command):
    code, err = run(tmp_path, capsys, command, NOWHERE, "--step", "ssh-hardenin")
    assert code == 1
    assert "vps-wizard: --step: no step ssh-hardenin, did you mean ssh-hardening?" in err
    assert "vps-wizard steps" in err
    assert connects == []


def test_a_missing_or_unreadable_answers_file_says_so(tmp_path, capsys, connects):
    code, err = run(tmp_path, capsys, "plan", NOWHERE, "--answers", str(tmp_path / "nope.toml"))
    assert code == 1 and "does not exist" in err and "--answers" in err
    code, err = run(tmp_path, capsys, "plan", NOWHERE, "--answers", str(tmp_path))
    assert code == 1 and "cannot be read" in err
    assert connects == []


def test_a_good_answers_file_goes_on_to_connect(tmp_path, capsys, connects):
    """The control of the tests above: the same command with good answers does connect."""
    path = answers_file(tmp_path, DAY_ONE + "[ssh-hardening]\nport = 2222\n")
    code, err = run(tmp_path, capsys, "apply", NOWHERE, "--answers", path, "--yes")
    assert code == 1
    assert "test: no server at 127.0.0.1:9" in err
    assert [target.port for target in connects] == [9]


# ---------------------------------------------------------------- after connecting, all steps


def offline_session(tmp_path: Path, **facts) -> Session:
    """A Session on a fresh host whose facts are given, with no connection behind it."""
    key = tmp_path / "id_ed25519"
    key.write_text("private key (not read)\n")
    key.with_suffix(".pub").write_text(PUBLIC_KEY + "\n")
    options = ConnectOptions(Target("192.0.2.10", "root", 22), Credentials(str(key)))
    fresh = dataclasses.replace(
        _empty_facts(),
        os_id="debian",
        os_version="12",
        os_family="debian",
        fqdn="debian",
        timezone="UTC",
        ipv4=("192.0.2.10",),
        client_address="203.0.113.5",
        login_user="root",
        **facts,
    )
    store = StateStore(tmp_path / "state.db")
    host = HostRecord("192.0.2.10", "192.0.2.10", 22)
    return Session(CATALOG, store, options, None, fresh, host)  # type: ignore[arg-type]


def tables(text: str) -> AnswersFile:
    import tomllib

    return AnswersFile(tomllib.loads(text), Path("answers.toml"))


def test_a_refusal_in_a_later_step_comes_before_the_first_step(tmp_path):
    session = offline_session(tmp_path)
    answers = tables(DAY_ONE + "[ssh-hardening]\n[firewall]\nblocked = '203.0.113.0/24'\n")
    steps = ["base", "admin-user", "ssh-hardening", "firewall"]
    with pytest.raises(AnswerError) as refused:
        validate_selection(session, steps, answers)
    assert refused.value.message.startswith("nothing was changed: firewall.blocked")
    assert "203.0.113.5, the address you are connected from" in refused.value.message
    assert session.host.steps == {}
    assert session.store.load("192.0.2.10", 22).steps == {}


def test_a_default_known_only_from_the_server_is_checked_before_anything(tmp_path):
    """base.fqdn defaults to the server's name when it has a dot: 'debian' has none."""
    session = offline_session(tmp_path)
    with pytest.raises(AnswerError) as refused:
        validate_selection(session, ["base", "admin-user"], tables("[admin-user]\n"))
    assert "base.fqdn: an answer is needed" in refused.value.message


def test_later_steps_take_their_defaults_from_the_earlier_ones_of_the_same_run(tmp_path):
    session = offline_session(tmp_path)
    answers = tables(DAY_ONE.replace("server.example.net", "www1.example.org") + "[web]\n[vhost]\n")
    validated = validate_selection(session, ["base", "admin-user", "web", "vhost"], answers)
    assert validated["vhost"].values["owner"] == "alice"
    assert validated["vhost"].values["domain"] == "example.org"
    assert validated["admin-user"].values["public_key"] == PUBLIC_KEY
    assert session.host.steps == {}


def test_a_step_whose_prerequisite_is_neither_applied_nor_in_the_run_is_refused(tmp_path):
    session = offline_session(tmp_path)
    with pytest.raises(AnswerError) as refused:
        validate_selection(session, ["admin-user"], tables(DAY_ONE))
    assert "step admin-user needs base, which this host does not have yet" in (
        refused.value.message
    )
    assert "[base]" in refused.value.hint
