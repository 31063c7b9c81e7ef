"""The command line as a user types it: options on either side of the command, typos, prompts
at end of input, key files, long commands, closed pipes and connection errors in words."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from wizard import cli, cliparse

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_options_before_the_subcommand_are_used(capsys, tmp_path):
    code, out, _ = run(capsys, "--json", "steps")
    assert code == 0 and json.loads(out)[0]["id"] == "base"
    parser = cli.build_parser()
    raw = ["-i", "KEY", "--known-hosts", str(tmp_path / "kh"), "status", "host.example"]
    args = parser.parse_args(cli.with_command(raw, parser))
    assert args.identity == "KEY" and args.known_hosts == tmp_path / "kh"
    after = ["status", "host.example", "-i", "KEY2"]
    assert parser.parse_args(cli.with_command(after, parser)).identity == "KEY2"
    code, _, err = run(capsys, "-i", str(tmp_path / "missing"), "status", "root@192.0.2.1")
    assert code == 1 and "does not exist" in err


def test_options_before_a_bare_host_open_it_in_the_tui():
    parser = cli.build_parser()
    assert cli.with_command(["-i", "KEY", "root@host"], parser) == ["-i", "KEY", "tui", "root@host"]


def test_a_mistyped_command_is_said_so_and_not_taken_for_a_host(capsys, tmp_path, monkeypatch):
    code, _, err = run(capsys, "stauts", "root@host")
    assert code == 1 and "unknown command 'stauts', did you mean 'status'?" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 1 and "unknown command 'frobnicate'" in err and "Traceback" not in err
    config = tmp_path / "config"
    config.write_text("Host frobnicate web-*\n  HostName 192.0.2.1\n")
    assert cliparse.could_be_host("frobnicate", config)
    assert not cliparse.could_be_host("web-*", config)
    assert cliparse.could_be_host("vps.example.net") and cliparse.could_be_host("me@box")


def test_end_of_input_at_every_prompt_is_a_sentence(capsys, monkeypatch):
    def no_more(prompt=""):
        raise EOFError

    monkeypatch.setattr(cliparse.getpass, "getpass", no_more)
    code, _, err = run(capsys, "status", "root@192.0.2.1", "--ask-password")
    assert code == 1 and "vps-wizard: no answer (end of input) to 'SSH password'" in err
    assert "Traceback" not in err
    monkeypatch.setattr("builtins.input", no_more)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    with pytest.raises(cli.WizardError, match="no answer"):
        cli.confirm("Apply base?")


def test_a_public_key_or_a_missing_file_given_to_i_is_refused_before_connecting(tmp_path):
    public = tmp_path / "id_ed25519.pub"
    public.write_text("ssh-ed25519 AAAA me@laptop\n")
    with pytest.raises(cli.WizardError, match="is a public key") as caught:
        cliparse.check_identity(str(public))
    assert str(tmp_path / "id_ed25519") in (caught.value.hint or "")
    with pytest.raises(cli.WizardError, match="does not exist"):
        cliparse.check_identity(str(tmp_path / "nope"))


def test_long_commands_are_printed_whole(capsys):
    command = "apt-get install -y " + " ".join(f"package-{n}" for n in range(40)) + " LAST"
    cli.print_command(command + "\nsystemctl enable --now thing")
    out = capsys.readouterr().out
    assert "LAST" in out and "systemctl enable --now thing" in out


def test_a_bad_address_gives_its_reason(capsys):
    code, _, err = run(capsys, "status", "my host;x")
    assert code == 1 and "cannot hold ' ' ';'" in err


def not_ssh_listener() -> int:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def wizard(*argv: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vps_wizard", *argv], cwd=ROOT, text=True, timeout=60, **kw
    )


def test_a_port_without_ssh_and_a_closed_port_are_named_without_traceback(tmp_path):
    port = not_ssh_listener()
    known = str(tmp_path / "kh")
    done = wizard("status", f"root@127.0.0.1:{port}", "--known-hosts", known, capture_output=True)
    assert done.returncode == 1 and "not as an SSH server" in done.stderr
    # The wizard's sentence comes first: no library's warning or traceback before it.
    assert done.stderr.startswith("vps-wizard: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    done = wizard("status", f"root@127.0.0.1:{free}", "--known-hosts", known, capture_output=True)
    assert "connection refused" in done.stderr and "Errno None" not in done.stderr


def test_a_closed_pipe_is_no_internal_error():
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = wizard("steps", stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_help_says_what_each_option_does_and_gives_exit_codes():
    parser = cli.build_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
    for name in ("plan", "apply", "verify", "status", "steps", "tui"):
        sub = parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
        assert "exit codes" in sub.format_help()
        for action in sub._actions:
            assert action.help, (name, action.option_strings)


def test_the_report_gives_date_host_and_steps_not_applied(tmp_path):
    def step(sid: str, status: str):
        return SimpleNamespace(step=SimpleNamespace(id=sid), record=SimpleNamespace(status=status))

    session = SimpleNamespace(
        host=SimpleNamespace(key="SHA256:abc", address="vps.example.net"),
        overview=lambda: [step("base", "applied"), step("tls", "pending")],
    )
    data = {"base": [{"status": "ok", "check": "c", "summary": "s", "hint": ""}]}
    cli.write_report(tmp_path / "r.md", session, data)  # type: ignore[arg-type]
    text = (tmp_path / "r.md").read_text()
    assert "vps.example.net" in text and "not applied yet: tls" in text and "UTC" in text
    cli.write_report(tmp_path / "r.json", session, data)  # type: ignore[arg-type]
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["not_applied"] == ["tls"] and document["date"]
