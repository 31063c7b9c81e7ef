"""A secret file with a `compare` test is compared on the server, never read back: the plan's
probe runs the test with the secret piped into it, and the file is "unchanged" when the server
already holds the secret. The probe runs here in a real sh against files under tmp_path (the
"server"), as the plan would run it over SSH."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wizard.answers import check_refusals, validate_answers
from wizard.apply import _unchanged_since_review
from wizard.catalog import load_catalog, load_step
from wizard.errors import AnswerError
from wizard.plan import Plan, make_plan, probe_script, render_step
from wizard.remote import Result
from wizard.shell import Shell

SECRET = 'it\'s "$(touch pwned)" `id`; a\\b 93'


class LocalServer:
    """Runs the plan's scripts in a local sh: the files under tmp_path are the server's."""

    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.outputs: list[str] = []

    def run_script(self, script: Shell) -> Result:
        self.scripts.append(script)
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
        self.outputs.append(done.stdout)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def step(tmp_path: Path):
    """A step whose secret file is compared with a record the server keeps of the secret."""
    folder = tmp_path / "step"
    folder.mkdir()
    (folder / "secret.j2").write_text("{{ answers.password }}\n")
    (folder / "step.toml").write_text(
        f"""
id = "compared"
title = "TEST"
help = "A secret compared on the server."

[[questions]]
name = "password"
type = "secret"
prompt = "Password"
secret = true

[[files]]
template = "secret.j2"
dest = "{tmp_path}/server/secret"
mode = "0600"
secret = true
compare = "vw_secret | cmp -s - {tmp_path}/server/record"
"""
    )
    (tmp_path / "server").mkdir()
    return load_step(folder)[1]


def plan_for(step, password: str, server: LocalServer) -> Plan:
    answers = validate_answers(step, {"password": password})
    context = {"answers": dict(answers.values)}
    return make_plan(server, step, answers, context)  # type: ignore[arg-type]


def test_the_same_secret_is_unchanged_and_a_new_one_is_to_update(step, tmp_path):
    server = LocalServer()
    (tmp_path / "server" / "record").write_text(SECRET + "\n")
    (tmp_path / "server" / "secret").write_text("# used\n")
    same = plan_for(step, SECRET, server)
    assert same.files[0].status == "unchanged"
    assert not same.has_changes
    assert same.summary() == "compared: nothing to change"

    changed = plan_for(step, SECRET + "x", server)
    assert changed.files[0].status == "update"
    assert changed.has_changes
    diff = changed.files[0].diff(changed.answers.secret_values())
    assert "the server does not hold it yet" in diff
    assert SECRET not in diff
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_a_missing_file_with_the_secret_held_is_unchanged_and_without_it_created(step, tmp_path):
    server = LocalServer()
    (tmp_path / "server" / "record").write_text(SECRET + "\n")
    assert plan_for(step, SECRET, server).files[0].status == "unchanged"
    (tmp_path / "server" / "record").unlink()
    assert plan_for(step, SECRET, server).files[0].status == "create"


def test_the_probe_never_reads_the_secret_file_back_nor_holds_the_secret_in_clear(step, tmp_path):
    """The file still holds the secret (a run stopped before it was used): the probe sends
    back its mode and size only, and the script carries the secret only base64-encoded in
    the here-document that `vw_secret` decodes into the compare's pipe."""
    server = LocalServer()
    (tmp_path / "server" / "secret").write_text(SECRET + "\n")
    (tmp_path / "server" / "secret").chmod(0o600)
    (tmp_path / "server" / "record").write_text("another\n")
    plan = plan_for(step, SECRET, server)
    old = plan.files[0].old
    assert old is not None and old.content is None and old.sha256 == "?"
    assert old.size == len(SECRET) + 1 and old.mode == "0600"
    assert SECRET not in server.scripts[0]
    assert SECRET not in server.outputs[0]
    assert "vw_secret() { base64 -d <<'VW_DATA_" in server.scripts[0]


def test_a_file_without_compare_is_read_and_compared_here_as_before(step, tmp_path):
    """Only files that say how to compare them are left unread (the test-only secret-file
    step and every plain file keep the comparison by content)."""
    plain = step.files[0].__class__(template="secret.j2", dest=f"{tmp_path}/server/plain")
    desired = render_step(
        step.__class__(id="p", title="p", help="", files=(plain,), source_dir=step.source_dir),
        {"answers": {"password": "x" * 12}},
    )
    (reading,) = [line for line in str(probe_script(step, desired)).splitlines() if "@@TAR" in line]
    assert plain.dest in reading


@pytest.mark.parametrize(
    ("replace_with", "stale"),
    [("a new content\n", False), ("link", True), ("directory", True), ("absent", True)],
)
def test_the_apply_checks_an_unread_secret_file_by_its_kind_only(
    step, tmp_path, replace_with, stale
):
    """Between review and apply the file may be rewritten (its content was never seen), but it
    must still be a regular file: a link or anything else there is a change to review."""
    server = LocalServer()
    secret = tmp_path / "server" / "secret"
    secret.write_text("# used\n")
    change = plan_for(step, SECRET, server).files[0]
    assert change.status == "create" or change.old is not None
    secret.unlink()
    if replace_with == "link":
        secret.symlink_to("/etc/hostname")
    elif replace_with == "directory":
        secret.mkdir()
    elif replace_with != "absent":
        secret.write_text(replace_with)
    check = _unchanged_since_review(change)
    assert "sha256sum" not in check
    done = subprocess.run(
        ["sh", "-c", 'stale() { echo "STALE $1"; }\n' + str(check)], capture_output=True, text=True
    )
    assert ("STALE" in done.stdout) is stale


def test_a_mailbox_password_longer_than_the_server_can_check_is_refused():
    """openssl passwd reads 256 characters at most: a longer password would never compare
    equal, so every plan would rehash it. It is refused at the question instead."""
    mail = load_catalog().get("mail")
    check_refusals(mail, {"answers": {"password": "p" * 256}, "steps": {}})
    with pytest.raises(AnswerError) as refused:
        check_refusals(mail, {"answers": {"password": "p" * 257}, "steps": {}})
    assert refused.value.message.startswith("mail.password: use at most 256 characters")
