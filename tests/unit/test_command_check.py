"""The generic command check: a step verifies what it set up with a shell command, its exit code
and output, and no Python. Its judge says ok or fail with the evidence (control characters made
visible) and what to do; its `run` is rendered with every value quoted, as a command's line."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from wizard.checks.command import command_check, judge_command, render_check_params
from wizard.shell import Shell
from wizard.steps import CheckSpec, Step

RUN = "systemctl is-active demo.service"


def test_the_expected_exit_code_and_output_is_ok_with_the_summary():
    result = judge_command(RUN, 0, "active\n", 0, "^active$", "demo runs")
    assert result.status == "ok"
    assert result.summary == "demo runs"
    assert result.evidence == f"$ {RUN}\nexit code 0\nactive"


def test_another_exit_code_fails_saying_both_codes_with_a_hint():
    result = judge_command(RUN, 3, "inactive\n", 0, "^active$", "demo runs")
    assert result.status == "fail"
    assert result.summary == "not so: demo runs (the command exited 3, expected 0)"
    assert "inactive" in result.evidence
    assert RUN in result.hint and "apply the step again" in result.hint


def test_a_non_zero_exit_code_may_be_the_expected_one():
    assert judge_command("test -e /gone", 1, "", 1, None, "gone").status == "ok"
    assert judge_command("test -e /gone", 0, "", 1, None, "gone").status == "fail"


def test_output_that_does_not_match_fails_naming_the_pattern():
    result = judge_command(RUN, 0, "activating\n", 0, "^active$", "demo runs")
    assert result.status == "fail"
    assert "does not match ^active$" in result.summary


def test_the_pattern_is_searched_line_by_line():
    output = "Loaded: loaded\nActive: active (running)\n"
    assert judge_command(RUN, 0, output, 0, r"^Active: active\b", "demo").status == "ok"


def test_control_characters_in_the_output_are_made_visible():
    result = judge_command(RUN, 1, "bad\x1b]0;owned\x07\u202e\n", 0, None, "demo runs")
    assert "\x1b" not in result.evidence and "\u202e" not in result.evidence
    assert "\\x1b]0;owned\\x07\\u202e" in result.evidence


def test_a_long_output_shows_its_end():
    result = judge_command(RUN, 1, "x" * 5000 + "the reason\n", 0, None, "demo")
    assert result.evidence.endswith("the reason")
    assert len(result.evidence) < 2200


def test_a_broken_pattern_is_a_step_bug():
    result = judge_command(RUN, 0, "active", 0, "(", "demo")
    assert result.status == "fail" and "bug in the step definition" in result.hint


def step_here(tmp_path: Path) -> Step:
    return Step("demo", "Demo", "", source_dir=str(tmp_path))


def test_run_is_rendered_as_shell_with_every_value_one_quoted_word(tmp_path):
    spec = CheckSpec(
        "command",
        {
            "run": "grep -c {{ answers.word }} /etc/demo.conf",
            "exit": "0",
            "output": "'^[1-9]'",
            "summary": "'the word ' ~ answers.word ~ ' is there'",
        },
    )
    hostile = "x; touch /tmp/owned $(id)"
    params = render_check_params(step_here(tmp_path), spec, {"answers": {"word": hostile}})
    assert isinstance(params["run"], Shell)
    assert shlex.split(params["run"]) == ["grep", "-c", hostile, "/etc/demo.conf"]
    assert params["exit"] == 0
    assert params["output"] == "^[1-9]"
    assert params["summary"] == f"the word {hostile} is there"


def test_other_checks_params_are_expressions(tmp_path):
    spec = CheckSpec("web.http", {"run": "answers.word"})
    params = render_check_params(step_here(tmp_path), spec, {"answers": {"word": "w"}})
    assert params == {"run": "w"}


class FakeRemote:
    def __init__(self, exit_code: int, stdout: str) -> None:
        self.exit_code, self.stdout = exit_code, stdout
        self.ran: list[str] = []

    def run(self, command, sudo=True, timeout=600, on_line=None):
        from wizard.remote import Result

        self.ran.append(command)
        return Result(self.exit_code, self.stdout, "")


class Context:
    def __init__(self, remote: FakeRemote) -> None:
        self.remote = remote


@pytest.mark.parametrize(("code", "status"), [(0, "ok"), (4, "fail")])
def test_the_check_runs_the_rendered_command_and_judges_it(tmp_path, code, status):
    remote = FakeRemote(code, "active\n")
    run = Shell("systemctl is-active demo")
    result = command_check(Context(remote), {"run": run, "exit": 0, "summary": "demo runs"})  # type: ignore[arg-type]
    assert remote.ran == [run]
    assert result.status == status


def test_a_plain_string_is_never_run():
    remote = FakeRemote(0, "")
    result = command_check(Context(remote), {"run": "rm -rf /", "summary": "x"})  # type: ignore[arg-type]
    assert remote.ran == []
    assert result.status == "fail" and "bug" in result.hint
