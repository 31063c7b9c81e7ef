"""The command line: `vps-wizard [TARGET]` opens the TUI; plan/apply/verify/status/steps script it.

Exit codes: plan 0 nothing to change, 2 changes, 1 error; apply and verify 0 only when every
step ended ok; 1 on any error, with the reason and what to do on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wizard.cliparse import (
    COMMANDS as COMMAND_NAMES,
)
from wizard.cliparse import (
    ask,
    check_identity,
    could_be_host,
    first_word,
    subparser_defaults_suppressed,
    unknown_command,
)
from wizard.endpoint import (
    DEFAULT_GUARD_SECONDS,
    DEFAULT_KNOWN_HOSTS,
    ConnectOptions,
    Credentials,
    Stats,
    Target,
)
from wizard.errors import UnknownHostKey, WizardError
from wizard.visible import visible, visible_output

if TYPE_CHECKING:
    # The engine loads in the commands that use it: `vps-wizard HOST` draws its first screen
    # before the session, the planner and the checks are imported (the TUI loads them while
    # it connects); tests/tui/test_startup_budget.py holds the first screen to that.
    from wizard.answerfile import AnswersFile
    from wizard.catalog import Catalog
    from wizard.checks.base import CheckResult
    from wizard.plan import Plan
    from wizard.preview import PlannedStep
    from wizard.reveal import Secret
    from wizard.session import Session
    from wizard.state import StateStore
    from wizard.workflow import Event, StepDone

ICONS = {"ok": "✔", "warn": "!", "fail": "✘"}


EXIT_CODES = {
    "plan": "exit codes: 0 nothing to change, 2 changes to make, 1 error",
    "apply": "exit codes: 0 every step applied and its checks passed, 1 a check failed, a step "
    "was refused or stopped, or an error",
    "verify": "exit codes: 0 no check failed (warnings allowed), 1 a check failed or an error",
    "status": "exit codes: 0 shown, 1 error",
    "tui": "exit codes: 0 quit, 1 error",
    "steps": "exit codes: 0",
}


def common_options() -> argparse.ArgumentParser:
    """The options every command takes, before or after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-i", "--identity", metavar="KEY", help="private key file to log in with (not the .pub)"
    )
    common.add_argument(
        "--known-hosts",
        type=Path,
        default=DEFAULT_KNOWN_HOSTS,
        help=f"the wizard's own known_hosts file (default: {DEFAULT_KNOWN_HOSTS})",
    )
    common.add_argument(
        "--accept-host-key",
        metavar="SHA256:...",
        help="trust this host key fingerprint if the host is not in known_hosts yet",
    )
    common.add_argument("--ask-password", action="store_true", help="log in with a password")
    common.add_argument("--ask-sudo-password", action="store_true", help="sudo needs a password")
    common.add_argument(
        "--guard-seconds",
        type=int,
        default=DEFAULT_GUARD_SECONDS,
        help="after a change to SSH or the firewall, seconds before the server rolls it back "
        f"unless the wizard can still log in (default {DEFAULT_GUARD_SECONDS})",
    )
    common.add_argument("--state", type=Path, help="state database (default: user state dir)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--stats", action="store_true", help="show round trips and time per phase")
    common.add_argument(
        "--yes", action="store_true", help="apply without asking (never trusts a new host key)"
    )
    add_resume_options(common)
    return common


def build_parser() -> argparse.ArgumentParser:
    """All commands and options."""
    sub_common = subparser_defaults_suppressed(common_options())
    parser = argparse.ArgumentParser(
        prog="vps-wizard",
        description="From a fresh Debian/Ubuntu VPS to a hardened server, one reviewed step "
        "at a time.",
        epilog="Options may stand before or after the command. "
        + "; ".join(
            f"{name}: {text.removeprefix('exit codes: ')}" for name, text in EXIT_CODES.items()
        ),
        parents=[common_options()],
    )
    parser.add_argument(
        "--demo", action="store_true", help="run the TUI on a disposable local test host"
    )
    sub = parser.add_subparsers(dest="command", title="commands", help="what to do")
    for name, text in (
        ("plan", "show what the steps would change (exit 2 when something would)"),
        ("apply", "apply the steps of the answers file, then verify them"),
        ("verify", "run the verification checks"),
        ("status", "show each step's status on the host"),
        ("tui", "open the terminal interface on a host"),
    ):
        command = sub.add_parser(
            name, help=text, description=text, epilog=EXIT_CODES[name], parents=[sub_common]
        )
        command.add_argument("target", help="user@host[:port], or host once the wizard knows it")
        if name in ("plan", "apply", "verify"):
            command.add_argument(
                "--step",
                action="append",
                default=[],
                help="only this step (repeat for several; default: the answers file's steps)",
            )
        if name in ("plan", "apply"):
            command.add_argument("--answers", type=Path, help="answers file (TOML)")
        if name == "verify":
            command.add_argument("--report", type=Path, help="write a Markdown (or .json) report")
    steps = sub.add_parser(
        "steps",
        help="list the catalog's steps",
        description="list the catalog's steps",
        epilog=EXIT_CODES["steps"],
        parents=[sub_common],
    )
    steps.set_defaults(target=None)
    return parser


class TuiLauncher(Protocol):
    """Opens the full-screen front end on a server (screens.app.run_tui). The engine never
    imports the TUI: the `vps-wizard` command (vps_wizard.py) passes it in. Without a catalog,
    the TUI reads and checks the steps itself, after its first screen, before connecting."""

    def __call__(
        self, catalog: Catalog | None, store: StateStore, options: ConnectOptions | None
    ) -> object: ...


def main(argv: Sequence[str] | None = None, launch_tui: TuiLauncher | None = None) -> int:
    """The command line, with the TUI given by the caller (None: headless commands only).

    Everything it writes to stdout and stderr goes through `visible`: plans, statuses and
    results quote the server (file contents, os-release, command output), and an escape
    sequence there must not reach the terminal. JSON output is unchanged by it: json.dumps
    escapes every control character itself (ensure_ascii).
    """
    try:
        with visible_output():
            return run_command(argv, launch_tui)
    except BrokenPipeError:
        return closed_pipe()


def closed_pipe() -> int:
    """The reader of stdout went away (`| head`): stop quietly, as other tools do. Python
    would otherwise report the broken pipe again when it flushes stdout at exit."""
    import os

    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a command that a pipe stopped


def run_command(argv: Sequence[str] | None, launch_tui: TuiLauncher | None) -> int:
    """Parse the command line and run the command; errors become a sentence and exit 1."""
    raw = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    stats = Stats()
    try:
        raw = with_command(raw, parser)
        args = parser.parse_args(raw)
        if args.command in COMMANDS:
            connect_early_when_sure(args, stats)
        # Loaded once the login is under way: its waits hide their cost (see connect_early).
        from wizard.state import StateStore

        if args.command == "tui":
            # The TUI draws its first screen, then reads the steps; a refused step file is its
            # error screen, before it connects (the first screen comes 0.05 s sooner).
            needs_tui(launch_tui)(None, StateStore(args.state), connect_options(args))
            return 0
        from wizard.catalog import load_catalog

        catalog = load_catalog()
        if args.command == "steps":
            return cmd_steps(catalog, args)
        if args.command is None:
            return cmd_demo(catalog, args, needs_tui(launch_tui))
        store = StateStore(args.state)
        session = open_session(catalog, store, args, stats)
        try:
            return COMMANDS[args.command](session, catalog, args)
        finally:
            if args.stats:
                print_stats(session.stats, args.json)
            session.close()
    except WizardError as error:
        print(f"vps-wizard: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  → {error.hint}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        print("vps-wizard: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    except Exception as error:  # the user gets a sentence and a file, never a traceback
        # Imported here, not at the top: it loads platformdirs before the login begins.
        from wizard.crashlog import write_crash_log

        log = write_crash_log(error)
        print(
            f"vps-wizard: internal error: {type(error).__name__}: {error}\n"
            f"  → this is a bug; the details are in {log}. The server's journal keeps any "
            "interrupted step safe: run the same command again to resume.",
            file=sys.stderr,
        )
        return 1
    finally:
        drop_early_connect()


def with_command(raw: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """The command line with its subcommand: a bare host opens the TUI, a bare word that is
    no host the user could mean is a mistyped command."""
    index = first_word(raw, parser)
    if index is None or raw[index] in COMMAND_NAMES:
        return raw
    if not could_be_host(raw[index]):
        raise unknown_command(raw[index])
    return [*raw[:index], "tui", *raw[index:]]


def connect_options(args: argparse.Namespace) -> ConnectOptions:
    """ConnectOptions from the command line; passwords asked here, kept in memory only."""
    target = Target.parse(args.target)
    check_identity(args.identity)
    password = ask("SSH password: ", secret=True) if args.ask_password else None
    sudo_password = ask("sudo password: ", secret=True) if args.ask_sudo_password else None
    return ConnectOptions(
        target=target,
        credentials=Credentials(args.identity, password, sudo_password),
        known_hosts=args.known_hosts,
        accept_fingerprint=args.accept_host_key,
        guard_seconds=args.guard_seconds,
    )


def connect_early_when_sure(args: argparse.Namespace, stats: Stats) -> None:
    """Begin the login before the catalog loads (wizard.remote.connect_early) when the session
    will surely ask for this one: user and port given (it takes neither from this machine's
    record then), no password to ask (asked after the answers file is checked) and no new host
    key to accept (it would be written to known_hosts first). Anything else, or a command line
    that is not right, connects where it always did; an error of the early login is said when
    the session takes it, and a login no session took is closed (drop_early_connect)."""
    if args.ask_password or args.ask_sudo_password or args.accept_host_key:
        return
    try:
        options = connect_options(args)
    except WizardError:
        return  # said again, in its place, by open_session
    if options.target.user and options.target.port:
        from wizard.remote import connect_early

        connect_early(options.target, options.credentials, options.known_hosts, stats)


def drop_early_connect() -> None:
    """Close a login begun early that the session did not take (wizard.remote)."""
    if "wizard.remote" in sys.modules:
        from wizard.remote import drop_early_connect as drop

        drop()


def open_session(
    catalog: Catalog, store: StateStore, args: argparse.Namespace, stats: Stats
) -> Session:
    """Check the answers file and --step, then connect (or take the login begun early, see
    connect_early_when_sure); an unknown host key is asked on a terminal, refused with --yes
    or no terminal."""
    from wizard.session import Session

    answers = run_answers(catalog, args)
    load_what_the_command_runs(catalog, args, answers)
    first_plan = None
    if args.command in ("plan", "apply"):
        from wizard.answerfile import selected_steps

        steps = selected_steps(catalog, args.step, answers)
        first_plan = (steps[0], answers.for_step(steps[0])) if steps else None
    # verify's checks begin beside the facts (Session.open): the steps named, else the applied.
    first_verify = tuple(args.step) if args.command == "verify" else None
    options = connect_options(args)
    try:
        session = Session.open(catalog, store, options, stats, first_plan, first_verify)
    except UnknownHostKey as unknown:
        if args.yes or not sys.stdin.isatty():
            raise WizardError(
                f"{unknown.host} is not in {options.known_hosts} and this run cannot ask: "
                f"its key is {unknown.key_type} {unknown.fingerprint}",
                "Check the fingerprint with your provider, then pass --accept-host-key "
                f"{unknown.fingerprint} or connect once interactively.",
            ) from None
        print(f"The host key of {unknown.host} is new: {unknown.key_type} {unknown.fingerprint}")
        if ask("Trust it and continue? [y/N] ").strip().lower() not in ("y", "yes"):
            raise WizardError("host key not trusted; nothing was done") from None
        options = ConnectOptions(
            options.target,
            options.credentials,
            options.known_hosts,
            unknown.fingerprint,
            options.guard_seconds,
        )
        session = Session.open(catalog, store, options, stats, first_plan, first_verify)
    settle_reset(session, args)
    for notice in session.notices:
        print(f"note: {notice}", file=sys.stderr)
    return session


def load_what_the_command_runs(
    catalog: Catalog, args: argparse.Namespace, answers: AnswersFile
) -> None:
    """Import what the command runs once connected, before it connects: with the login begun
    early (connect_early_when_sure) this thread only waits for the handshake then. The plan's
    preview; for apply the workflow too, and for apply and verify the check areas of the
    steps named (a web check loads an HTTP client and TLS, 0.02 s)."""
    if args.command in ("plan", "apply"):
        importlib.import_module("wizard.preview")
    if args.command == "apply":
        importlib.import_module("wizard.workflow")
    if args.command in ("apply", "verify"):
        from wizard.checks import load_checks

        named = set(args.step) or (set(answers.tables) if args.command == "apply" else set())
        load_checks(spec.id for step in catalog.steps if step.id in named for spec in step.checks)


def add_resume_options(parser: argparse.ArgumentParser) -> None:
    """What to do when the server does not back this machine's record (reinstalled, reset)."""
    parser.add_argument(
        "--start-over",
        action="store_true",
        help="when the server looks reinstalled or reset: archive this machine's record of it "
        "and start from an empty one",
    )


def settle_reset(session: Session, args: argparse.Namespace) -> None:
    """Say when the server looks reinstalled or reset; start over when asked to (the record
    archived). Without --start-over nothing of the old record is shown as applied or
    verified, and the two ways on are given as commands."""
    reset = session.reset
    if reset is not None:
        print(f"vps-wizard: {reset.message}", file=sys.stderr)
    if getattr(args, "start_over", False):
        # Asked for, it holds even when the server backs the record: nothing is lost.
        session.start_over()
        return
    if reset is None:
        return
    where = args.target
    print(
        f"  → start over (the old record archived, not deleted): add --start-over, e.g. "
        f"vps-wizard status {where} --start-over\n"
        f"  → or verify step by step what is still true: vps-wizard verify {where} "
        + " ".join(f"--step {step}" for step in reset.claimed[:1])
        + " (one step at a time)",
        file=sys.stderr,
    )


def status_text(status: str, checked: float) -> str:
    """A step's status as the CLI shows it: "verified" always with the time of its check."""
    if status == "verified" and checked:
        return f"verified ({time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(checked))} UTC)"
    return status


def run_answers(catalog: Catalog, args: argparse.Namespace) -> AnswersFile:
    """The answers file and --step of this command, checked whole (no server needed)."""
    from wizard.answerfile import command_line_answers

    return command_line_answers(catalog, getattr(args, "answers", None), getattr(args, "step", []))


def checked_selection(
    session: Session, catalog: Catalog, args: argparse.Namespace
) -> tuple[AnswersFile, list[str]]:
    """The answers and the steps to work on, every step's answers validated in full against
    the server's facts before the first one is planned or applied."""
    from wizard.answerfile import selected_steps, validate_selection

    answers = run_answers(catalog, args)
    steps = selected_steps(catalog, args.step, answers)
    validate_selection(session, steps, answers)
    return answers, steps


def cmd_steps(catalog: Catalog, args: argparse.Namespace) -> int:
    """List the catalog."""
    if args.json:
        print(
            json.dumps(
                [{"id": s.id, "title": s.title, "chapters": s.chapters} for s in catalog.steps]
            )
        )
    else:
        for step in catalog.steps:
            print(f"{step.id:16} {step.title}  (chapters {step.chapters})")
    return 0


def cmd_status(session: Session, catalog: Catalog, args: argparse.Namespace) -> int:
    """Each step's status on the host."""
    rows: list[dict[str, Any]] = [
        {
            "step": s.step.id,
            "status": s.record.status,
            "checked": s.record.checked,
            "message": s.record.message,
            "waits_for": list(s.blocked_by),
        }
        for s in session.overview()
    ]
    runs = [
        {"run": run, "step": step, "status": status, "message": message}
        for run, step, status, message in session.store.runs(session.host.key)[-10:]
    ]
    if args.json:
        document = {
            "host": session.host.address,
            "host_key": session.host.key,
            "os": session.facts.os_pretty,
            "admin_user": session.host.admin_user,
        }
        print(json.dumps({**document, "steps": rows, "recent_runs": runs}))
    else:
        facts = session.facts
        where = f"{session.host.address} ({session.host.key})"
        print(f"{where}: {facts.os_pretty}, connected as {session.remote.user}")
        for row in rows:
            extra = f"  ({row['message']})" if row["message"] else ""
            print(f"  {row['step']:16} {status_text(row['status'], row['checked'])}{extra}")
        if runs:
            print("recent runs:")
            for run in runs:
                print(f"  {run['run']}  {run['step']:16} {run['status']}")
    return 0


def _preview(
    session: Session, catalog: Catalog, args: argparse.Namespace
) -> tuple[AnswersFile, list[PlannedStep]]:
    """The selected steps planned in order, each against what the earlier ones would leave."""
    from wizard.preview import preview

    answers, steps = checked_selection(session, catalog, args)
    return answers, preview(session, [(s, answers.for_step(s)) for s in steps])


def print_planned(item: PlannedStep, warning: str = "") -> None:
    """A previewed step: why it is there when it is a follow-up, its plan, and what of it
    the server can only tell once the earlier steps ran."""
    if item.reason:
        print(f"== {item.reason}: {item.plan.step.id} is planned again")
    print_plan(item.plan, warning)
    if item.after and item.plan.has_changes:
        print(
            f"   (planned as {', '.join(item.after)} would leave the server: their files, "
            "packages and services)"
        )
    if item.guards_read_now:
        print(
            "   (whether each command runs is decided on the server when the step is applied, "
            f"after {', '.join(item.after)}; shown as the server is now)"
        )


def print_plan(plan: Plan, warning: str = "") -> None:
    """The plan's summary, what it does to the admin the wizard logs in as, and the diffs,
    secrets masked."""
    print(f"== {plan.summary()}")
    if warning:
        print(f"   ! {warning}")
    secrets = plan.answers.secret_values()
    for change in plan.changed_files:
        print(change.diff(secrets), end="")
    for command in plan.commands:
        if command.will_run:
            print_command(command.run)


def print_command(run: str) -> None:
    """A command in full, every line of it: a user approving --yes reads all that will run.
    Long lines are left whole (a terminal wraps them; cutting would hide the end)."""
    first, *rest = run.splitlines() or [""]
    print(f"  will run: {first}")
    for line in rest:
        print(f"            {line}")


def cmd_plan(session: Session, catalog: Catalog, args: argparse.Namespace) -> int:
    """Show what would change; exit 2 when anything would."""
    from wizard.session import second_admin

    _, planned = _preview(session, catalog, args)
    if args.json:
        print(
            json.dumps(
                [
                    {**planned_json(item), "second_admin": second_admin(session.host, item.plan)}
                    for item in planned
                ]
            )
        )
    else:
        for item in planned:
            print_planned(item, second_admin(session.host, item.plan))
    return 2 if any(item.plan.has_changes for item in planned) else 0


def planned_json(item: PlannedStep) -> dict[str, Any]:
    """A previewed step as JSON: its plan, the earlier steps it assumes, why a follow-up."""
    return {**plan_json(item.plan), "after": list(item.after), "reason": item.reason}


def plan_json(plan: Plan) -> dict[str, Any]:
    """A plan as JSON (diffs masked)."""
    secrets = plan.answers.secret_values()
    return {
        "step": plan.step.id,
        "changes": plan.has_changes,
        "summary": plan.summary(),
        "files": [
            {
                "path": f.dest,
                "status": f.status,
                "diff": f.diff(secrets),
                # What will be written, to compare with the server afterwards; never for a
                # secret file (a digest would let a dictionary attack find the secret).
                "sha256": None if f.spec.secret else hashlib.sha256(f.new).hexdigest(),
            }
            for f in plan.files
        ],
        "packages": list(plan.missing_packages),
        "commands": [c.run for c in plan.commands if c.will_run],
    }


def cmd_apply(session: Session, catalog: Catalog, args: argparse.Namespace) -> int:
    """Plan, confirm, apply and verify each step in order (wizard.workflow); stop at the
    first failure."""
    from wizard.workflow import RunEnd, StepDone, run_steps

    # What `plan` shows for the same answers: each step is held to it when its turn comes.
    answers, planned = _preview(session, catalog, args)
    selection = [
        (step_id, answers.for_step(step_id))
        for step_id in dict.fromkeys(item.plan.step.id for item in planned if not item.reason)
    ]
    # Previewed just now from this session: the steps nothing before them changes are not
    # planned again.
    workflow = run_steps(session, selection, planned, current=True)
    report: list[dict[str, Any]] = []
    answer: Any = None
    try:
        while True:
            event = workflow.send(answer)
            answer = _answer(event, args)
            if isinstance(event, StepDone):
                report.append(step_json(event))
    except StopIteration as ended:
        end = RunEnd(ended.value)
    if args.json:
        print(json.dumps({"ok": end is RunEnd.DONE, "steps": report}))
    return 0 if end is RunEnd.DONE else 1


def _answer(event: Event, args: argparse.Namespace) -> Any:
    """What the terminal answers to one event of the run: print it, ask when it asks."""
    from wizard.workflow import (
        Adopted,
        Applying,
        ApplyRolledBack,
        ConfirmSecondAdmin,
        Decision,
        Revealed,
        Review,
        Verified,
    )

    quiet = bool(args.json)
    match event:
        case Review(plan=plan, cause="", second_admin=warning, installs=installs):
            if not quiet and installs:
                print(f"== installs, for the whole run: {' '.join(installs)}")
            if not quiet:
                print_plan(plan, warning)
            if args.yes or confirm(f"Apply {plan.step.id}?"):
                return Decision.APPLY
            print("stopped; nothing more was changed.")
            return Decision.STOP
        case Review(plan=plan, cause=cause):
            if not quiet:
                print(f"== {cause} changed what {plan.step.id} must do:")
                print_plan(plan)
            if args.yes or confirm(f"Apply {plan.step.id} again?"):
                return Decision.APPLY
            print(f"   {plan.step.id} left outdated; apply it later.")
            return Decision.SKIP
        case ConfirmSecondAdmin(plan=plan):
            if args.yes or confirm_second_admin(plan):
                return True
            print("stopped; nothing more was changed.")
            return False
        case Applying():
            return _quiet if quiet else _print_event
        case ApplyRolledBack(failure=failure):
            raise failure
        case Revealed(plan=plan, secrets=secrets):
            print_secrets(plan.step.id, secrets)
        case Adopted(plan=plan) if not quiet:
            print(f"== {plan.step.id}: nothing to change")
        case Verified(results=results) if not quiet:
            print_results([r for step_results in results.values() for r in step_results])
    return None


def print_secrets(step_id: str, secrets: Sequence[Secret]) -> None:
    """What the apply made that the user must keep, this once, on the error stream: it is the
    terminal's even when the report (--json, or the output) goes to a file or a pipe."""
    lines = [f"== {step_id}: keep a copy now, it is not shown again"]
    for secret in secrets:
        lines += [f"   {secret.label} ({secret.path}):", f"   {visible(secret.value)}"]
    print("\n".join(lines), file=sys.stderr, flush=True)


def step_json(done: StepDone) -> dict[str, Any]:
    """One step of `apply --json`'s report."""
    entry: dict[str, Any] = {"step": done.step_id, "summary": done.summary}
    if done.second_admin:
        entry["second_admin"] = done.second_admin
    if done.run_id:
        entry["run"] = done.run_id
        entry["followups"] = list(done.followups)
    entry["checks"] = [result_json(r) for r in done.results]
    entry["seconds"] = round(done.seconds, 2)
    return entry


def confirm_second_admin(plan: Plan) -> bool:
    """The explicit question before a second admin is added and becomes the wizard's login."""
    from wizard.steps import Role

    wanted = plan.step.role_answer(Role.ADMIN_USER, plan.answers.values)
    return confirm(f"Add {wanted} as a second admin and log in as {wanted} from now on?")


def _print_event(line: str) -> None:
    print(f"   {line}", flush=True)


def _quiet(_line: str) -> None:
    """--json prints one document at the end, not the live log."""


def confirm(question: str) -> bool:
    """Ask yes/no on the terminal; no terminal means no."""
    if not sys.stdin.isatty():
        raise WizardError("this run has no terminal to confirm on", "add --yes to apply unattended")
    return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def result_json(result: CheckResult) -> dict[str, Any]:
    """A check result as JSON."""
    return {
        "check": result.check_id,
        "status": result.status,
        "summary": result.summary,
        "evidence": result.evidence,
        "hint": result.hint,
        "seconds": round(result.seconds, 2),
    }


EVIDENCE_LINES = 12


def print_results(results: list[CheckResult]) -> None:
    """One line per check; under anything not ok, its evidence (what the registrar must hold,
    which record differs...) and the hint."""
    for result in results:
        print(f"  {ICONS[result.status]} {result.check_id}: {result.summary}")
        if result.status == "ok":
            continue
        evidence = result.evidence.strip().splitlines()
        for line in evidence[:EVIDENCE_LINES]:
            print(f"      | {line}")
        if len(evidence) > EVIDENCE_LINES:
            print(f"      | … {len(evidence) - EVIDENCE_LINES} more line(s): verify --json has all")
        if result.hint:
            print(f"      → {result.hint}")


def cmd_verify(session: Session, catalog: Catalog, args: argparse.Namespace) -> int:
    """Run the checks of the given steps (default: every applied step)."""
    steps = args.step or session.applied_steps()
    for step_id in steps:
        catalog.get(step_id)
    by_step = session.verify(steps)
    data = {sid: [result_json(r) for r in results] for sid, results in by_step.items()}
    ok = all(r.status != "fail" for results in by_step.values() for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "steps": data}))
    else:
        for step_id, results in by_step.items():
            print(f"== {step_id}")
            print_results(results)
    if args.report:
        write_report(args.report, session, data)
    return 0 if ok else 1


def write_report(path: Path, session: Session, data: dict[str, list[dict[str, Any]]]) -> None:
    """A Markdown report (or JSON when the name ends in .json)."""
    date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    pending = [s.step.id for s in session.overview() if s.record.status == "pending"]
    if path.suffix == ".json":
        document = {
            "date": date,
            "host": session.host.address,
            "host_key": session.host.key,
            "not_applied": pending,
            "steps": data,
        }
        path.write_text(json.dumps(document, indent=2))
        return
    lines = [
        f"# vps-wizard report for {session.host.address}",
        "",
        f"- date: {date}",
        f"- host: {session.host.address} (host key {session.host.key})",
        "- steps not applied yet: " + (", ".join(pending) if pending else "none"),
        "",
    ]
    for step_id, results in data.items():
        lines += [f"## {step_id}", "", "| | check | summary | what to do |", "|---|---|---|---|"]
        lines += [
            f"| {ICONS[r['status']]} | {r['check']} | {table_cell(r['summary'])} "
            f"| {table_cell(r['hint'])} |"
            for r in results
        ]
        lines.append("")
    # Read with cat or less as often as rendered: no escape sequence may reach a terminal.
    path.write_text(visible("\n".join(lines)))


def table_cell(text: str) -> str:
    """Text from a check (which quotes the server) as one Markdown table cell: a '|' or a
    newline in it would end the cell or the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def print_stats(stats: Stats, as_json: bool) -> None:
    """Round trips, bytes and seconds per phase, on stderr."""
    if as_json:
        print(json.dumps({"stats": stats.as_dict()}), file=sys.stderr)
        return
    print("phase        round trips   sent    received   seconds", file=sys.stderr)
    for name, phase in stats.phases.items():
        print(
            f"{name:12} {phase.round_trips:11} {phase.bytes_sent:7} {phase.bytes_received:11} "
            f"{phase.seconds:9.2f}",
            file=sys.stderr,
        )
    print(f"total        {stats.total_round_trips():11}", file=sys.stderr)


def needs_tui(launch_tui: TuiLauncher | None) -> TuiLauncher:
    """The TUI launcher, or the way to a command that has one."""
    if launch_tui is None:
        raise WizardError(
            "this entry point runs the headless commands only (plan, apply, verify, status, steps)",
            "run vps-wizard (or python -m vps_wizard) for the TUI and the demo",
        )
    return launch_tui


def cmd_demo(catalog: Catalog, args: argparse.Namespace, launch_tui: TuiLauncher) -> int:
    """No server given: offer to boot the disposable test host and open the TUI on it."""
    if not args.demo:
        if not sys.stdin.isatty():
            print("usage: vps-wizard user@host  (or --demo for a local test host)", file=sys.stderr)
            return 1
        answer = ask(
            "No server given. Boot a disposable local Debian 12 test host and try the wizard "
            "on it? [Y/n] "
        )
        if answer.strip().lower() in ("n", "no"):
            return 0
    from wizard.demo import run_demo

    return run_demo(catalog, args, launch_tui)


COMMANDS = {"plan": cmd_plan, "apply": cmd_apply, "verify": cmd_verify, "status": cmd_status}

if __name__ == "__main__":
    sys.exit(main())
