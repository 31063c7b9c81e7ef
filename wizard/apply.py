"""Applies a plan: backup, atomic write, validate, reload, rollback; guarded when it can lock out.

Two scripts. The first, run in the wizard's session, stages every new file as a temporary file
beside its destination (so secrets never land in the journal) and writes the run's scripts.
The second, started with systemd-run so that it survives a dropped connection or a killed
wizard, installs packages, backs up, validates, renames into place, reloads and records the
outcome in the journal. The session follows its log until it ends.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from wizard.errors import ApplyFailed, WizardError
from wizard.facts import MANIFEST, STATE_DIR
from wizard.guard import arm_revert_lines, revert_unit
from wizard.journal import FINAL, RunPaths
from wizard.plan import FileChange, Plan, encode_content, guard_test, mask
from wizard.remote import Remote

EventSink = Callable[[str], None]
# A staged file is named <dest><STAGED_SUFFIX><run id>, beside its destination.
STAGED_SUFFIX = ".vw-new."


@dataclass(frozen=True)
class ApplyOutcome:
    """How a run ended on the server."""

    run_id: str
    status: str
    log: tuple[str, ...]
    failure: str = ""

    @property
    def ok(self) -> bool:
        """True when the change is in place (maybe still awaiting the guard's confirmation)."""
        return self.status in ("done", "awaiting-confirm")


def _q(text: str) -> str:
    return shlex.quote(text)


def _temp_path(change: FileChange, run_id: str) -> str:
    return f"{change.dest}{STAGED_SUFFIX}{run_id}"


def _heredoc_tag(content: str, base: str) -> str:
    tag = base
    while tag in content:
        tag += "_X"
    return tag


def stage_script(
    plan: Plan, paths: RunPaths, apply_sh: str, restore_sh: str, cleanup_sh: str
) -> str:
    """The foreground script: journal folder, temporary files, run scripts, then start apply."""
    run = paths.run_id
    parts = [
        "set -u",
        f"D={_q(paths.dir)}; B={_q(paths.backup_dir)}",
        "umask 077",
        'mkdir -p "$D" "$B" || { echo "@@FAIL cannot create the journal in $D"; exit 1; }',
        'chmod 700 "$D" "$B"',
        'echo started > "$D/status"',
        f'echo {_q(plan.step.id)} > "$D/step"',
    ]
    for name, body in (
        ("cleanup.sh", cleanup_sh),
        ("restore.sh", restore_sh),
        ("apply.sh", apply_sh),
    ):
        tag = _heredoc_tag(body, "VW_SCRIPT_END")
        parts.append(f"cat > \"$D/{name}\" <<'{tag}'\n{body}{tag}")
    for change in plan.changed_files:
        temp = _temp_path(change, run)
        encoded = encode_content(change.new)
        tag = _heredoc_tag(encoded, "VW_FILE_END")
        directory = change.dest.rsplit("/", 1)[0] or "/"
        parts.append(
            f"(umask 022; mkdir -p {_q(directory)})\n"
            f'base64 -d > {_q(temp)} 2>"$D/write.err" <<\'{tag}\' || {{ echo "@@FAIL could not '
            f'write {temp}: $(cat "$D/write.err" 2>/dev/null) '
            f'(df: $(df -h {_q(directory)} 2>&1 | tail -n 1))"; sh "$D/cleanup.sh"; '
            'echo failed > "$D/status"; exit 1; }\n'
            f"{encoded}{tag}"
        )
    unit = f"vps-wizard-apply-{run}"
    parts.append(
        ': > "$D/log"\n'
        f"systemd-run --quiet --collect --unit={unit} /bin/sh -c "
        f"{_q(f'exec /bin/sh {paths.apply} >> {paths.log} 2>&1')} "
        '|| { echo "@@FAIL systemd-run could not start the apply"; sh "$D/cleanup.sh"; '
        'echo failed > "$D/status"; exit 1; }\n'
        # tail ends by itself once the apply's process is gone, after printing the rest.
        f"P=$(systemctl show -p MainPID --value {unit} 2>/dev/null)\n"
        'if [ "${P:-0}" -gt 0 ] 2>/dev/null; then tail -s 0.2 -n +1 -f --pid="$P" "$D/log"; '
        'else cat "$D/log"; fi\n'
        'echo "@@RESULT $(cat "$D/status")"'
    )
    return "\n".join(parts) + "\n"


def cleanup_script(plan: Plan, paths: RunPaths) -> str:
    """Removes the run's temporary files (used when nothing was renamed yet)."""
    temps = " ".join(_q(_temp_path(c, paths.run_id)) for c in plan.changed_files)
    return f"rm -f {temps}\n" if temps else "true\n"


def restore_script(plan: Plan, paths: RunPaths) -> str:
    """Puts every replaced file back (or removes a created one), reloads, marks the run.

    Run by the guard's timer (no argument) it acts only on a run still waiting for its
    confirmation, under the lock the confirmation takes too, so the two never both win.
    Run by the apply's own rollback (argument `rollback`) it always restores.
    """
    lines = [
        "set -u",
        f"D={_q(paths.dir)}; B={_q(paths.backup_dir)}",
        'exec 9>>"$D/lock"; flock 9',
        'if [ "${1:-}" != rollback ]; then',
        '  case "$(cat "$D/status")" in writing|awaiting-confirm) ;; *) exit 0;; esac',
        "fi",
    ]
    for index, change in enumerate(plan.changed_files):
        dest = _q(change.dest)
        lines.append(
            f'if [ -e "$B/{index}" ]; then cp -a "$B/{index}" {dest}.vw-restore && '
            f"mv -f {dest}.vw-restore {dest}; else rm -f {dest}; fi"
        )
    lines.append('sh "$D/cleanup.sh"')
    lines.append(f'if [ -e "$B/manifest" ]; then cp -a "$B/manifest" {_q(MANIFEST)}; fi')
    for service, action in plan.handlers().items():
        lines.append(f"{handler_command(service, action)} 2>/dev/null")
    lines.append(
        '[ "${1:-}" = rollback ] || { echo reverted > "$D/status.tmp" && '
        'mv -f "$D/status.tmp" "$D/status"; }'
    )
    return "\n".join(lines) + "\n"


def validate_command(change: FileChange, run: str) -> str:
    """The shell command validating a staged file (see steps.FileSpec.validate_in)."""
    spec = change.spec
    assert spec.validate is not None
    command = spec.validate.replace("{new}", _q(_temp_path(change, run))).replace("{run}", run)
    if not spec.validate_in:
        return command
    tree = spec.validate_in.rstrip("/") + "/"
    staged = STAGED_SUFFIX + run
    command = command.replace("{copy}", '"$d"')
    return (
        f'd=$(mktemp -d) && cp -a {_q(tree)}. "$d"/ && '
        f'find "$d" -name {_q("*" + staged)} | while read -r f; do mv -f "$f" "${{f%{staged}}}"; '
        f'done && grep -rlZ {_q(tree)} "$d" | xargs -0 -r sed -i "s#{tree}#$d/#g" && '
        f'( {command} ); rc=$?; rm -rf "$d"; exit $rc'
    )


def handler_command(service: str, action: str) -> str:
    """The shell command of a handler (see steps.ServiceAction)."""
    if action == "regenerate":
        return f"systemctl daemon-reload && systemctl try-restart {_q(service)}"
    return f"systemctl {action} {_q(service)}"


def apply_script(plan: Plan, paths: RunPaths, guard_seconds: int) -> str:
    """The detached script: packages, commands, backup, validate, rename, reload, record."""
    run = paths.run_id
    lines = [
        "set -u",
        f"D={_q(paths.dir)}; B={_q(paths.backup_dir)}",
        'log() { echo "@@LOG $*"; }',
        'setstatus() { echo "$1" > "$D/status.tmp" && mv -f "$D/status.tmp" "$D/status"; '
        'echo "@@STATUS $1"; }',
        'fail() { echo "@@FAIL $*"; sh "$D/cleanup.sh"; setstatus failed; exit 1; }',
        # A rollback also disarms the guard: its timer must never restore this run later.
        'rollback() { echo "@@FAIL $*"; log "restoring the previous files"; '
        f"systemctl stop {revert_unit(run)}.timer 2>/dev/null; "
        'sh "$D/restore.sh" rollback >/dev/null 2>&1; setstatus rolled-back; exit 1; }',
        "export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a",
    ]
    if plan.missing_packages:
        pkgs = " ".join(_q(p) for p in plan.missing_packages)
        lines.append(
            f"log 'installing {' '.join(plan.missing_packages)}'\n"
            f'apt-get -o DPkg::Lock::Timeout=600 -q -y install {pkgs} > "$D/apt.log" 2>&1 || '
            'fail "apt-get install failed: $(tail -n 3 "$D/apt.log")"'
        )
    lines += _command_lines(plan, "before", "fail")
    for change in plan.changed_files:
        temp = _q(_temp_path(change, run))
        lines.append(
            f"chown {_q(change.spec.owner)}:{_q(change.spec.group)} {temp} && "
            f"chmod {_q(change.spec.mode)} {temp} || fail 'could not set owner "
            f"{change.spec.owner}:{change.spec.group} and mode {change.spec.mode} on {change.dest}'"
        )
    lines.append(
        "if [ -e " + _q(MANIFEST) + " ]; then cp -a " + _q(MANIFEST) + ' "$B/manifest"; fi'
    )
    for index, change in enumerate(plan.changed_files):
        dest = _q(change.dest)
        lines.append(
            f'if [ -e {dest} ]; then cp -a {dest} "$B/{index}" || fail "backup of {change.dest} '
            f'failed"; fi\necho "{index} {change.dest}" >> "$B/index"'
        )
    lines.append(f"log 'backed up {len(plan.changed_files)} file(s) to {paths.backup_dir}'")
    for change in plan.changed_files:
        if change.spec.validate:
            command = validate_command(change, run)
            lines.append(
                f"log 'validating {change.dest}'\n"
                f'out=$( ( {command} ) 2>&1 ) || fail "validation of {change.dest} failed: '
                '$(echo "$out" | tail -n 5)"'
            )
    if plan.step.guard == "lockout" and plan.changed_files:
        lines.append(arm_revert_lines(paths, run, guard_seconds))
    lines.append("setstatus writing")
    for change in plan.changed_files:
        lines.append(
            f"mv -f {_q(_temp_path(change, run))} {_q(change.dest)} || "
            f"rollback 'could not move {change.dest} into place'"
        )
    if plan.changed_files:
        lines.append(f"log 'wrote {len(plan.changed_files)} file(s)'")
    handlers = plan.handlers()
    started_now: list[str] = []
    for service in plan.services_to_enable:
        # Started now, it reads the new files and needs no handler; already running (the
        # package's install started it with its defaults: fail2ban on Debian 13), it does.
        if service in handlers:
            lines.append(f"systemctl -q is-active {_q(service)} || started_{len(started_now)}=1")
            started_now.append(service)
        lines.append(
            f"log 'enabling {service}'\n"
            f'out=$(systemctl enable --now {_q(service)} 2>&1) || rollback "enabling {service} '
            f'failed: $out $(journalctl -u {_q(service)} -n 5 --no-pager 2>/dev/null | tail -n 5)"'
        )
    for service, action in handlers.items():
        handler = (
            f"log '{action} {service}'\n"
            f'out=$({handler_command(service, action)} 2>&1) || rollback "{action} of {service} '
            f'failed: $out $(journalctl -u {_q(service)} -n 5 --no-pager 2>/dev/null | tail -n 5)"'
        )
        if service in started_now:
            handler = (
                f'if [ -z "${{started_{started_now.index(service)}:-}}" ]; then\n{handler}\nfi'
            )
        lines.append(handler)
    if handlers:
        # A reload returns once the signal is sent; nginx's old workers then answer with the
        # old configuration for a moment. The checks that follow must see the new one.
        lines.append("sleep 1")
    lines += _command_lines(plan, "after", "rollback")
    if plan.changed_files:
        dests = " ".join(_q(c.dest) for c in plan.changed_files)
        pattern = _q("  (" + "|".join(_regex(c.dest) for c in plan.changed_files) + ")$")
        manifest = _q(MANIFEST)
        lines.append(
            f"mkdir -p {_q(STATE_DIR)}; touch {manifest}\n"
            f"grep -v -E {pattern} {manifest} > {manifest}.tmp\n"
            f"sha256sum {dests} >> {manifest}.tmp && mv -f {manifest}.tmp {manifest}"
        )
    final = "awaiting-confirm" if plan.step.guard == "lockout" and plan.changed_files else "done"
    lines.append(f"setstatus {final}")
    script = "\n".join(lines) + "\n"
    _refuse_secrets(plan, script)
    return script


def _regex(path: str) -> str:
    return "".join("\\" + ch if ch in ".[]()*+?{}|^$\\" else ch for ch in path)


def _command_lines(plan: Plan, stage: str, on_error: str) -> list[str]:
    lines = []
    for change in plan.commands:
        if change.command.stage != stage:
            continue
        # The label lands in single and in double quotes below: drop every character that
        # could end or expand either (a command like mariadb -e "SELECT ..." broke apply.sh).
        label = re.sub(r"[\'\"`$\\]", "", change.run.splitlines()[0][:70])
        lines.append(
            f"if ! {{ {guard_test(change.creates, change.unless)}; }}; then\n"
            f"  log 'running: {label}'\n"
            f'  out=$( ( {change.run} ) 2>&1 ) || {on_error} "command failed: {label}: '
            '$(echo "$out" | tail -n 5)"\n'
            "fi"
        )
    return lines


def _refuse_secrets(plan: Plan, script: str) -> None:
    for secret in plan.answers.secret_values():
        if secret in script:
            raise WizardError(
                f"step {plan.step.id} would write a secret answer into the server's journal",
                "this is a bug in the step definition: secrets belong in files marked secret",
            )


def apply_plan(
    remote: Remote, plan: Plan, run_id: str, guard_seconds: int, on_event: EventSink
) -> ApplyOutcome:
    """Apply the plan on the server (one round trip plus the step's own work)."""
    paths = RunPaths(run_id)
    script = stage_script(
        plan,
        paths,
        apply_script(plan, paths, guard_seconds),
        restore_script(plan, paths),
        cleanup_script(plan, paths),
    )
    secrets = plan.answers.secret_values()
    events: list[str] = []
    failure = ""
    status = ""

    def handle(line: str) -> None:
        nonlocal failure, status
        line = mask(line, secrets)
        if line.startswith("@@LOG "):
            events.append(line[6:])
            on_event(line[6:])
        elif line.startswith("@@FAIL "):
            failure = line[7:]
            events.append("FAILED: " + failure)
            on_event("FAILED: " + failure)
        elif line.startswith("@@STATUS "):
            on_event(f"[{line[9:]}]")
        elif line.startswith("@@RESULT "):
            status = line[9:].strip()

    result = remote.run_script(script, timeout=3600, on_line=handle)
    if not status:
        status = "failed" if not result.ok else "unknown"
        failure = failure or (result.stderr.strip() or result.stdout.strip())[-400:]
    if status not in FINAL | {"awaiting-confirm"}:
        failure = failure or f"the apply stopped in state '{status}'"
    return ApplyOutcome(run_id, status, tuple(events), failure)


def explain_failure(outcome: ApplyOutcome) -> ApplyFailed:
    """Turn a failed outcome into an error the user can act on."""
    reason = outcome.failure or outcome.status
    if "No space left" in reason or " 100% " in reason:
        hint = (
            "The server's disk is full. Free space (apt-get clean, journalctl --vacuum-size=100M, "
            "df -h to find what is large), then run the step again. Nothing was changed."
        )
    elif outcome.status == "rolled-back":
        hint = "The previous files were restored and the services reloaded. Fix the cause above."
    else:
        hint = "Nothing was changed on the server. Fix the cause above and run the step again."
    return ApplyFailed(f"run {outcome.run_id}: {reason}", hint)
