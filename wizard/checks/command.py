"""The generic command check: a step proves what it set up by a shell command on the server, its
exit code and its output, without a Python check of its own.

    [[checks]]
    id = "command"
    params = { run = "systemctl is-active {{ answers.unit }}", exit = "0",
               output = "'^active$'", summary = "'the unit runs'" }

`run` is shell written by the step's author, rendered as a `[[commands]]` line is: every value
in it becomes one quoted shell word. The other parameters are Jinja expressions: `exit` the
expected exit code (0 when left out), `output` a regular expression the output must hold
somewhere (searched line by line, `^` and `$` at each line), `summary` what passing proves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wizard.checks.base import CheckContext, CheckResult, check, fail, ok
from wizard.render import evaluate, render_shell
from wizard.shell import Shell
from wizard.steps import CheckSpec, Step
from wizard.visible import visible

CHECK_ID = "command"
TIMEOUT = 30.0
# The output shown as evidence: its end, where a failing command says why.
EVIDENCE_LIMIT = 2000

# The check parameters that are shell, rendered as a command's `run` (values quoted) instead of
# evaluated as an expression: by check id.
SHELL_PARAMS: Mapping[str, frozenset[str]] = {CHECK_ID: frozenset({"run"})}


def render_check_params(step: Step, spec: CheckSpec, context: Mapping[str, Any]) -> dict[str, Any]:
    """A check's parameters for a verify: each expression evaluated in the step's context; a
    shell parameter rendered as shell with every value quoted (a `Shell`)."""
    shell = SHELL_PARAMS.get(spec.id, frozenset())
    return {
        name: render_shell(step, text, context) if name in shell else evaluate(step, text, context)
        for name, text in spec.params.items()
    }


def _shown(text: str) -> str:
    text = text.rstrip("\n")
    if len(text) > EVIDENCE_LIMIT:
        text = "…" + text[-EVIDENCE_LIMIT:]
    return visible(text)


def judge_command(
    run: str,
    exit_code: int,
    output: str,
    expected_exit: int,
    pattern: str | None,
    summary: str,
) -> CheckResult:
    """The verdict on what the command returned: its exit code must be the expected one and,
    with a pattern, its output must hold a match. The evidence shows the command, its exit
    code and its output with control characters made visible."""
    evidence = f"$ {visible(run)}\nexit code {exit_code}"
    if output.strip():
        evidence += f"\n{_shown(output)}"
    hint = (
        f"run it on the server as root to see why ({visible(run)}); fix what it watches, "
        "or apply the step again"
    )
    if exit_code != expected_exit:
        return fail(
            CHECK_ID,
            f"not so: {summary} (the command exited {exit_code}, expected {expected_exit})",
            evidence,
            hint,
        )
    if pattern:
        try:
            found = re.search(pattern, output, re.MULTILINE)
        except re.error as error:
            return fail(
                CHECK_ID,
                f"the step's output pattern is not a regular expression ({error})",
                evidence,
                "this is a bug in the step definition; report it with the step id",
            )
        if found is None:
            return fail(
                CHECK_ID,
                f"not so: {summary} (the output does not match {visible(pattern)})",
                evidence,
                hint,
            )
    return ok(CHECK_ID, summary, evidence)


def _expected_exit(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"the command check's exit must be a whole number, not {value!r}")
    return int(value)


@check(CHECK_ID)
def command_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """The step's command, run on the server as root: its exit code and output as expected."""
    run = params["run"]
    if not isinstance(run, Shell):
        return fail(
            CHECK_ID,
            "the command was not rendered as shell",
            hint="this is a bug: a check's run must be rendered with render_check_params",
        )
    summary = str(params.get("summary") or "the command gives what is expected")
    result = ctx.remote.run(run, timeout=TIMEOUT)
    return judge_command(
        str(run),
        result.exit_code,
        result.stdout + result.stderr,
        _expected_exit(params.get("exit")),
        params.get("output") or None,
        summary,
    )
