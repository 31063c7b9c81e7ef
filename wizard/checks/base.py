"""What a check is, what it returns, and how checks run: concurrently, each with a timeout."""

from __future__ import annotations

import concurrent.futures
import contextvars
import enum
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.connector import Connector
from wizard.crashlog import write_crash_log
from wizard.errors import WizardError
from wizard.facts import Facts
from wizard.remote import Credentials, Remote, Target
from wizard.shell import Shell, sh


class CheckStatus(enum.StrEnum):
    """A check's verdict. A StrEnum: the CLI's JSON shows it as the same "ok", "warn", "fail"
    strings, and a comparison with one of them still holds."""

    OK = "ok"
    WARN = "warn"  # worth attention; the step still passes
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: a one-line summary, the evidence, and what to do when not ok."""

    check_id: str
    status: CheckStatus
    summary: str
    evidence: str = ""
    hint: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # A result built from a plain string ("ok") gets the enum, and a typo is refused here
        # rather than shown as an unknown verdict.
        object.__setattr__(self, "status", CheckStatus(self.status))


@dataclass(frozen=True)
class CheckContext:
    """What a check may use: the live session, the facts, and how to open new sessions."""

    remote: Connector
    facts: Facts
    address: str
    port: int
    credentials: Credentials
    known_hosts: Path
    answers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def reach_port(self, sshd_port: Any = None) -> int:
        """The port to reach sshd on from here, when it listens on `sshd_port` on the server.

        Where it listens on the port this session came in on, the session's own port is the
        way in: a NAT or a relay in front of the server may map it to another one.
        """
        if not sshd_port or int(sshd_port) == self.facts.ssh_port:
            return self.port
        return int(sshd_port)

    def connect_as(self, user: str, credentials: Credentials | None = None) -> Remote:
        """A brand-new SSH session (outside-in proof that a login works)."""
        return Remote.connect(
            Target(self.address, user, self.port), credentials or self.credentials, self.known_hosts
        )


CheckFunction = Callable[[CheckContext, Mapping[str, Any]], CheckResult]
REGISTRY: dict[str, CheckFunction] = {}


def check(check_id: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under its id."""

    def register(function: CheckFunction) -> CheckFunction:
        REGISTRY[check_id] = function
        return function

    return register


def ok(check_id: str, summary: str, evidence: str = "") -> CheckResult:
    """A passing result."""
    return CheckResult(check_id, CheckStatus.OK, summary, evidence)


def fail(check_id: str, summary: str, evidence: str = "", hint: str = "") -> CheckResult:
    """A failing result, with what to do."""
    return CheckResult(check_id, CheckStatus.FAIL, summary, evidence, hint)


def warn(check_id: str, summary: str, evidence: str = "", hint: str = "") -> CheckResult:
    """A result worth attention that does not fail the step."""
    return CheckResult(check_id, CheckStatus.WARN, summary, evidence, hint)


def marker(name: str) -> Shell:
    """A shell line printing the `@@name` marker on a line of its own.

    The leading newline ends whatever the previous command printed without one, so the marker
    never sticks to the end of a value; `split_sections` strips the blank lines this leaves.
    """
    return sh("printf '\\n@@%s\\n' {name}", name=name)


def split_sections(output: str) -> dict[str, str]:
    """Split a script's output at its `@@NAME` marker lines: {NAME: the text below it}."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        name = line[2:].strip()
        if line.startswith("@@") and name and " " not in name:
            current = sections.setdefault(name, [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip("\n") for name, lines in sections.items()}


def run_sections(ctx: CheckContext, script: Shell) -> dict[str, str]:
    """Run a check's script on the server (one round trip) and split its marked sections."""
    return split_sections(ctx.remote.run(script).stdout)


def exit_code(text: str) -> int:
    """An exit status a script printed, 1 when it is missing or garbled."""
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else 1


def run_one(context: CheckContext, check_id: str, params: Mapping[str, Any]) -> CheckResult:
    """Run one check; any exception becomes a fail result with its message, never a traceback."""
    started = time.monotonic()
    function = REGISTRY.get(check_id)
    if function is None:
        result = fail(check_id, f"unknown check '{check_id}'", hint="a step names a missing check")
    else:
        try:
            result = function(context, params)
        except Exception as error:  # a check must report, not crash the verify
            result = _could_not_run(check_id, error)
    return CheckResult(
        result.check_id,
        result.status,
        result.summary,
        result.evidence,
        result.hint,
        time.monotonic() - started,
    )


# Where errors come from that the server or the network cause, not a bug of the check.
_OUTSIDE_MODULES = ("dns.", "paramiko.")


def _could_not_run(check_id: str, error: Exception) -> CheckResult:
    """A check that raised: what the server or the network did, said as such; anything else
    is a bug of the check, its traceback kept in the crash log and the log named."""
    module = type(error).__module__ or ""
    if isinstance(error, WizardError):
        return fail(
            check_id,
            f"the check could not run: {error.message}",
            hint=error.hint or "the server may be unreachable or a tool missing",
        )
    if isinstance(error, OSError) or module.startswith(_OUTSIDE_MODULES):
        return fail(
            check_id,
            f"the check could not run: {type(error).__name__}: {error}",
            hint="the server or the network did not answer as expected; run verify again",
        )
    log = write_crash_log(error, f"check {check_id}")
    return fail(
        check_id,
        f"the check could not run: {type(error).__name__}: {error}",
        hint=f"this is a bug in the check; its traceback is in {log}",
    )


def run_checks(
    context: CheckContext,
    specs: Iterable[tuple[str, Mapping[str, Any]]],
    timeout: float = 60.0,
    on_result: Callable[[int, CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run checks concurrently; each result is reported as it arrives (with its index in
    `specs`), a slow one times out."""
    specs = list(specs)
    results: dict[int, CheckResult] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(16, len(specs))))
    # Each check counts its commands in the phase of the thread that runs the checks
    # (wizard.endpoint.Stats), carried into the pool's threads with the caller's context.
    futures = {
        pool.submit(contextvars.copy_context().run, run_one, context, cid, params): i
        for i, (cid, params) in enumerate(specs)
    }
    try:
        for future in concurrent.futures.as_completed(futures, timeout=timeout):
            index = futures[future]
            results[index] = future.result()
            if on_result:
                on_result(index, results[index])
    except concurrent.futures.TimeoutError:
        for index in futures.values():
            if index not in results:
                results[index] = fail(
                    specs[index][0],
                    f"no answer within {timeout:.0f} s",
                    hint="the server or the network is slow; run verify again",
                )
                if on_result:
                    on_result(index, results[index])
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [results[i] for i in range(len(specs))]
