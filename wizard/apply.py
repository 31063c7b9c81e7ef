"""Applies a plan: backup, atomic write, validate, reload, rollback; guarded when it can lock out.

Two scripts. The first, run in the wizard's session, takes the server's apply lock, checks
that the files are still those the user reviewed, stages every new file as a temporary file
beside its destination (so secrets never land in the journal) and writes the run's scripts.
The second, started with systemd-run so that it survives a dropped connection or a killed
wizard, installs packages, backs up, validates, renames into place, reloads and records the
outcome in the journal. The session follows its log until it ends.

Every script here is built with wizard.shell: values are quoted words, never pasted text.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

from wizard.connector import Connector
from wizard.errors import ApplyFailed, WizardError
from wizard.facts import MANIFEST
from wizard.guard import arm_revert_lines, revert_unit
from wizard.journal import RunPaths
from wizard.manifest import manifest_script
from wizard.plan import FileChange, Plan, guard_test, mask
from wizard.runlock import ALIVE_FUNCTION, LOCK_FILE, MUTEX_FILE, ApplyBusy
from wizard.runstatus import FINAL, RunStatus, case_pattern
from wizard.shell import Shell, code, heredoc, script, sh
from wizard.transient import systemd_run

EventSink = Callable[[str], None]
# A staged file is named <dest><STAGED_SUFFIX><run id>, beside its destination.
STAGED_SUFFIX = ".vw-new."
LABEL_LENGTH = 70
# apt's lines worth following live (what it unpacks and sets up, its errors and warnings), and
# how many of them a run passes on: the whole output stays in the journal's apt.log.
APT_LINES = "^(Unpacking|Setting up|E:|W:) "
APT_LINES_SHOWN = 200
# How often the session's log follow checks whether the apply ended: its last lines and the
# result reach the wizard at most this late.
TAIL_POLL_S = 0.01
# The journal's step of the run that installs the packages of a whole run at once.
INSTALL_STEP = "packages"
# While the wizard's apt-get runs (a whole run's one transaction, or a step's own), no daemon
# may start with its package's defaults before its own step wrote its files: a policy-rc.d
# (the Debian interface invoke-rc.d and deb-systemd-invoke ask before they start anything)
# answers 101, "not now", and writes down what it held back: the package whose maintainer
# script asked (DPKG_MAINTSCRIPT_PACKAGE) and the unit. The apply of the step whose packages
# brought it starts it once its files are in place (_held_lines). In /run: after a reboot
# every enabled unit has started anyway, and nothing is held any more.
POLICY_RC_D = "/usr/sbin/policy-rc.d"
# The word that tells the wizard's policy-rc.d from one of the server's own.
POLICY_MARK = "vps-wizard-holds-daemons"
# Set on the wizard's own apt-get only, and inherited by dpkg and the maintainer scripts: the
# policy-rc.d holds back what that transaction starts and lets any other through (an apt of
# unattended-upgrades' or the user's that gets the dpkg lock right after the wizard's).
HOLD_VARIABLE = code("VPS_WIZARD_HOLD")
HELD_FILE = "/run/vps-wizard/held"


@dataclass(frozen=True)
class ApplyOutcome:
    """How a run ended on the server."""

    run_id: str
    status: str
    log: tuple[str, ...]
    # What failed, in the engine's words: safe to keep in the local record.
    failure: str = ""
    # What the server printed about it (a validator's output, a journal): shown, not kept.
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the change is in place (maybe still awaiting the guard's confirmation)."""
        return self.status in (RunStatus.DONE, RunStatus.AWAITING_CONFIRM)


def _temp_path(change: FileChange, run_id: str) -> str:
    return f"{change.dest}{STAGED_SUFFIX}{run_id}"


def _directory(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _journal_vars(paths: RunPaths) -> Shell:
    return sh(
        "D={dir}; B={backup}; run={run}", dir=paths.dir, backup=paths.backup_dir, run=paths.run_id
    )


def _unchanged_since_review(change: FileChange) -> Shell:
    """Refuse when the file is no longer what the user reviewed (another wizard, a hand edit)."""
    if change.old is None:
        return sh("[ ! -e {dest} ] && [ ! -L {dest} ] || stale {dest}", dest=change.dest)
    if change.old.kind == "symlink":
        # A link is checked as the link it was: its target (/etc/shadow, say) is never read.
        return sh(
            '[ -L {dest} ] && [ "$(readlink {dest})" = {target} ] || stale {dest}',
            dest=change.dest,
            target=change.old.link_target,
        )
    if change.same is not None:
        # A secret file compared on the server: its content never left it, nor its digest.
        return sh("[ -f {dest} ] && [ ! -L {dest} ] || stale {dest}", dest=change.dest)
    return sh(
        "[ ! -L {dest} ] && "
        '[ "$(sha256sum < {dest} 2>/dev/null | cut -d " " -f 1)" = {digest} ] || stale {dest}',
        dest=change.dest,
        digest=change.old.sha256,
    )


def _digest_checked(change: FileChange) -> bool:
    """A regular file whose digest the review read, under a name sha256sum -c lists as is."""
    return (
        change.old is not None
        and change.old.kind != "symlink"
        and change.same is None
        and not any(ch in change.dest for ch in "\\\n")
    )


def _unchanged_since_review_all(changes: tuple[FileChange, ...]) -> list[Shell]:
    """_unchanged_since_review for every file, the digests read by one sha256sum (three
    processes a file count at 100 files): each file is still no link, and `sha256sum -c` of
    the reviewed digests names the first file that changed or went away."""
    checked = [c for c in changes if _digest_checked(c)]
    lines = [_unchanged_since_review(c) for c in changes if not _digest_checked(c)]
    lines += [sh("[ ! -L {dest} ] || stale {dest}", dest=c.dest) for c in checked]
    if checked:
        listing = "".join(f"{c.old.sha256}  {c.dest}\n" for c in checked if c.old).encode()
        lines.append(heredoc(code('base64 -d > "$D/reviewed.sha256"'), listing))
        lines.append(
            code(
                'bad=$(sha256sum --quiet -c "$D/reviewed.sha256" 2>/dev/null | '
                "sed -n 's/: FAILED.*$//p' | head -n 1)\n"
                '[ -z "$bad" ] || stale "$bad"'
            )
        )
    return lines


def stage_script(
    plan: Plan, paths: RunPaths, apply_sh: Shell, restore_sh: Shell, cleanup_sh: Shell
) -> Shell:
    """The foreground script: lock, journal folder, temporary files, run scripts, start apply."""
    return _stage_script(plan.step.id, plan.changed_files, paths, apply_sh, restore_sh, cleanup_sh)


def _stage_script(
    step_id: str,
    changed_files: tuple[FileChange, ...],
    paths: RunPaths,
    apply_sh: Shell,
    restore_sh: Shell,
    cleanup_sh: Shell,
) -> Shell:
    """stage_script for any run: a step's, or the one installing a whole run's packages."""
    run = paths.run_id
    unit = f"vps-wizard-apply-{run}"
    parts = [
        code("set -u"),
        _journal_vars(paths),
        code("umask 077"),
        code('mkdir -p "$D" "$B" || { echo "@@FAIL cannot create the journal in $D"; exit 1; }'),
        code('chmod 700 "$D" "$B"'),
        # Held (shared) for as long as this session stages the run: recovery from another
        # wizard sees the owner is alive and leaves the run alone.
        code('exec 9>>"$D/owner.lock"; flock -s 9'),
        ALIVE_FUNCTION,
        sh(
            'exec 8>>{mutex}; flock -w 30 8 || {{ echo @@BUSY; rm -rf "$D" "$B"; exit 3; }}',
            mutex=MUTEX_FILE,
        ),
        sh(
            'if [ -f {lock} ]; then h=$(sed -n 1p {lock}); if [ "$h" != "$run" ] && '
            'vw_alive "$h"; then echo "@@BUSY $(cat /var/lib/vps-wizard/runs/"$h"/status)|'
            '$(tr "\\n" "|" < {lock})"; '
            'rm -rf "$D" "$B"; exit 3; fi; fi',
            lock=LOCK_FILE,
        ),
        sh('echo {started} > "$D/status"', started=RunStatus.STARTED),
        sh(
            'printf \'%s\\n\' "$run" "${{1%% *}}" '
            '"$(id -un)${{SUDO_USER:+ (sudo from $SUDO_USER)}}"'
            ' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" {step} > {lock}.tmp && mv -f {lock}.tmp {lock}',
            step=step_id,
            lock=LOCK_FILE,
        ),
        code("flock -u 8"),
        sh('echo {step} > "$D/step"', step=step_id),
        code('stale() { echo "@@STALE $1"; rm -rf "$D" "$B"; exit 4; }'),
    ]
    parts += _unchanged_since_review_all(changed_files)
    for name, body in (
        ("cleanup.sh", cleanup_sh),
        ("restore.sh", restore_sh),
        # Its first line writes its PID to $D/running: the proof that the unit ran, and the
        # process to follow (_follow_early_exit).
        ("apply.sh", script(sh("echo $$ > {running}", running=paths.running), apply_sh)),
    ):
        parts.append(heredoc(sh('base64 -d > "$D"/{name}', name=name), body.encode()))
    parts.append(
        sh(
            'sh -n "$D/apply.sh" 2>"$D/write.err" || {{ echo "@@FAIL the apply script does not '
            'parse: $(cat "$D/write.err")"; echo {failed} > "$D/status"; exit 1; }}',
            failed=RunStatus.FAILED,
        )
    )
    # One mkdir for every folder the files go to (a process per file counts at 100 files); a
    # folder it could not make shows as the write's failure below.
    directories = list(dict.fromkeys(_directory(c.dest) for c in changed_files))
    if directories:
        parts.append(sh("(umask 022; mkdir -p {directories})", directories=directories))
    if changed_files:
        # Every staged file by one tar (a base64 a file before: 2-3 ms each), from the
        # script's own here-document, relative to /; --touch: the time of the write, not the
        # archive's. tar replaces a name that exists rather than write through a link there.
        write = heredoc(
            code('{ base64 -d | tar -C / --touch -xf - 2>"$D/write.err"; }'),
            _staged_archive(changed_files, run),
        )
        parts.append(
            sh(
                "{write}\n[ $? -eq 0 ] || {{ echo @@FAIL could not write {temps}: "
                '"$(cat "$D/write.err" 2>/dev/null)" '
                "\"(df: $(df -h {directories} 2>&1 | tail -n +2 | paste -sd ';' -))\"; "
                'sh "$D/cleanup.sh"; echo {failed} > "$D/status"; exit 1; }}',
                failed=RunStatus.FAILED,
                write=write,
                temps=" ".join(_temp_path(c, run) for c in changed_files),
                directories=directories,
            )
        )
    parts.append(
        sh(
            ': > "$D/log"\n'
            # systemd-run --wait lasts as long as the unit (a process to follow without asking
            # systemd for its main PID: 20-35 ms). Started from a subshell that exits at once,
            # the group is no child of this shell: once it ends it is reaped, not left a zombie
            # that tail --pid would wait on for ever. Killed with this session (a cut link), it
            # leaves the unit running.
            'W=$({{ {run}\n{follow}\n}} </dev/null >/dev/null 2>"$D/start.err" & echo $!)\n'
            # tail ends by itself once the group is gone, after printing the rest; it looks
            # every TAIL_POLL_S (new lines arrive at once, through inotify).
            'tail -s {poll} -n +1 -f --pid="$W" "$D/log"\n'
            '[ -e "$D/running" ] || {{ echo "@@FAIL systemd-run could not start the apply: '
            '$(cat "$D/start.err")"; sh "$D/cleanup.sh"; echo {failed} > "$D/status"; exit 1; }}\n'
            'echo "@@RESULT $(cat "$D/status")"',
            run=systemd_run(
                (
                    "--quiet",
                    "--collect",
                    "--wait",
                    f"--unit={unit}",
                    f"--property=StandardOutput=append:{paths.log}",
                    f"--property=StandardError=append:{paths.log}",
                ),
                start_command(paths),
            ),
            follow=_follow_early_exit(unit),
            failed=RunStatus.FAILED,
            poll=TAIL_POLL_S,
        )
    )
    return script(*parts)


def start_command(paths: RunPaths) -> tuple[str, ...]:
    """The command of the apply's unit: the run's apply.sh by its path, not `sh -c` code
    (see wizard.transient); systemd appends its output to the run's log."""
    return ("/bin/sh", paths.apply)


def _follow_early_exit(unit: str) -> Shell:
    """Run after systemd-run --wait: normally the unit has ended and this returns at once.
    systemd-run also leaves early, with no more than a warning and exit status 0, when its
    D-Bus connection drops (dbus restarted during the apply): the unit goes on without it.
    Then wait for the unit to start while systemd still knows it (30 s at most), and for the
    apply's own process to end, so that the result read after is the run's last word."""
    return sh(
        "n=0\n"
        'while [ ! -s "$D/running" ] && [ $n -lt 600 ] && [ "$(systemctl show -p LoadState '
        '--value -- {service} 2>/dev/null)" = loaded ]; do sleep 0.05; n=$((n + 1)); done\n'
        'if [ -s "$D/running" ] && read -r p < "$D/running"; then\n'
        '  while kill -0 "$p" 2>/dev/null; do sleep 0.05; done\n'
        "fi",
        service=unit + ".service",
    )


def _staged_archive(changes: tuple[FileChange, ...], run: str) -> bytes:
    """A tar of every new file under its staged name (relative to /), root's, mode 0600: what
    `base64 -d > temp` under umask 077 wrote, file by file. The apply sets owner and mode."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for change in changes:
            member = tarfile.TarInfo(_temp_path(change, run).lstrip("/"))
            member.size, member.mode = len(change.new), 0o600
            member.uname = member.gname = "root"
            archive.addfile(member, io.BytesIO(change.new))
        end = archive.offset
    # Up to the end-of-archive blocks: tarfile pads to a 10 KB record, which tar does not
    # need from a pipe and would be 13 KB more to send.
    return buffer.getvalue()[: end + 2 * tarfile.BLOCKSIZE]


def cleanup_script(plan: Plan, paths: RunPaths, policy: str = POLICY_RC_D) -> Shell:
    """Removes the run's temporary files (used when nothing was renamed yet), and the
    policy-rc.d holding the daemons while its apt-get ran, if it stopped there."""
    temps = [_temp_path(c, paths.run_id) for c in plan.changed_files]
    lines = [sh("rm -f {temps}", temps=temps)] if temps else []
    if plan.missing_packages:
        lines.append(install_cleanup_script(policy))
    return script(*lines) if lines else code("true\n")


def restore_script(plan: Plan, paths: RunPaths) -> Shell:
    """Puts every replaced file back (or removes a created one), reloads, marks the run.

    Run by the guard's timer (no argument) it acts only on a run still waiting for its
    confirmation, under the lock the confirmation takes too, so the two never both win.
    Run by the apply's own rollback (argument `rollback`) it always restores.
    """
    lines = [
        code("set -u"),
        _journal_vars(paths),
        code('exec 9>>"$D/lock"; flock 9'),
        sh(
            'if [ "${{1:-}}" != rollback ]; then\n'
            '  case "$(cat "$D/status")" in {pending}) ;; *) exit 0;; esac\n'
            "fi",
            pending=case_pattern(RunStatus.WRITING, RunStatus.AWAITING_CONFIRM),
        ),
    ]
    for change in plan.changed_files:
        lines.append(
            sh(
                # -L too: a backed-up link whose target is gone is still put back.
                'if [ -e "$B/files"{dest} ] || [ -L "$B/files"{dest} ]; then '
                'cp -a "$B/files"{dest} {restore} && mv -f {restore} {dest}; else rm -f {dest}; fi',
                restore=change.dest + ".vw-restore",
                dest=change.dest,
            )
        )
    lines.append(code('sh "$D/cleanup.sh"'))
    lines.append(sh('if [ -e "$B/manifest" ]; then cp -a "$B/manifest" {m}; fi', m=MANIFEST))
    for service, action in plan.handlers().items():
        lines.append(sh("{handler} 2>/dev/null", handler=handler_command(service, action)))
    lines.append(
        sh(
            '[ "${{1:-}}" = rollback ] || {{ echo {reverted} > "$D/status.tmp" && '
            'mv -f "$D/status.tmp" "$D/status"; }}',
            reverted=RunStatus.REVERTED,
        )
    )
    return script(*lines)


# A validation that names its file: "$new" (the staged file), as a validate line's {new}
# becomes, or ${new...}.
_NAMES_THE_FILE = re.compile(r"\$\{?new\b")


def _validations(changes: tuple[FileChange, ...]) -> list[list[FileChange]]:
    """The validations to run, in the files' order: the files of one validation each, or
    several whose validation is the very same command (the same rendered line, the same
    copied folder) and names none of them. Such a command checks the staged configuration
    as a whole (Postfix's main.cf and master.cf, each nginx file of a site with `nginx -t`
    on a copy): run once for them all (Postfix's takes 3 s)."""
    groups: dict[tuple[str, str | None] | int, list[FileChange]] = {}
    for index, change in enumerate(changes):
        if change.validate is None:
            continue
        text = str(change.validate)
        key = index if _NAMES_THE_FILE.search(text) else (text, change.spec.validate_in)
        groups.setdefault(key, []).append(change)
    return list(groups.values())


def validate_command(change: FileChange, run: str) -> Shell:
    """The shell command validating a staged file (see steps.FileSpec.validate_in).

    It sets `new` (the staged file) and, with validate_in, `copy` (a throw-away copy of the
    configuration directory with every staged file in place and its own absolute paths
    pointing into the copy), then runs the step's rendered validate line.
    """
    assert change.validate is not None
    spec = change.spec
    setup = sh("new={new}; run={run}", new=_temp_path(change, run), run=run)
    if not spec.validate_in:
        return sh("{setup}; {validate}", setup=setup, validate=change.validate)
    # The copy in two processes whatever the number of staged files (a mv each counted): an
    # archive sorted by name, so a staged file comes after the file it replaces and, renamed
    # by --transform on the way out, takes its place. The archive and the copy live in a
    # folder of mktemp's (mode 0700): the tree may hold keys.
    if not re.fullmatch(r"[\w-]+", run):
        raise ValueError(f"run id {run!r} would need escaping in tar's --transform")
    return sh(
        "{setup}; tree={tree}; dir=$(mktemp -d) && copy=$dir/tree && "
        'tar -C "$tree" --sort=name -cf "$dir/tree.tar" . && mkdir "$copy" && '
        'tar -C "$copy" -xf "$dir/tree.tar" --transform={transform} && '
        'grep -rlZ -F "$tree" "$copy" | '
        'xargs -0 -r sed -i "s#$tree#$copy/#g" && ( {validate} ); rc=$?; rm -rf "$dir"; '
        "exit $rc",
        setup=setup,
        tree=spec.validate_in.rstrip("/") + "/",
        # Names only (S, H: not the targets of links).
        transform="s/" + (STAGED_SUFFIX + run).replace(".", "\\.") + "$//SH",
        validate=change.validate,
    )


def handler_command(service: str, action: str) -> Shell:
    """The shell command of a handler (see steps.ServiceAction)."""
    if action == "regenerate":
        return sh("systemctl daemon-reload && systemctl try-restart {service}", service=service)
    return sh("systemctl {action} {service}", action=action, service=service)


def _label(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= LABEL_LENGTH else first[: LABEL_LENGTH - 1] + "…"


def _apt_install(packages: tuple[str, ...]) -> Shell:
    """apt-get install of the packages, its meaningful lines followed live, `fail` on error."""
    # apt's exit status goes through a file: a pipe's status is its last command's.
    return sh(
        "log installing {names}\n"
        "{{ {hold}=1 apt-get -o DPkg::Lock::Timeout=600 -q -y install {packages} 2>&1; "
        'echo $? > "$D/apt.rc"; }} | tee "$D/apt.log" | '
        'awk -v max={max} -v where="$D/apt.log" '
        "'/'{pattern}'/ {{ n++; if (n <= max) {{ print \"@@APT \" $0; fflush() }} }} "
        'END {{ if (n > max) print "@@APT ... " n - max " more line(s) in " where }}\'\n'
        '[ "$(cat "$D/apt.rc" 2>/dev/null)" = 0 ] '
        '|| fail "apt-get install failed" "$(tail -n 3 "$D/apt.log")"',
        names=" ".join(packages),
        hold=HOLD_VARIABLE,
        packages=packages,
        max=APT_LINES_SHOWN,
        pattern=APT_LINES,
    )


def _detached_preamble(paths: RunPaths) -> list[Shell]:
    """The start of a detached run's script: its journal, its owner's lock, how it reports."""
    return [
        code("set -u"),
        _journal_vars(paths),
        # Shared with the staging session: while this runs, its owner is alive.
        code('exec 9>>"$D/owner.lock"; flock -s 9'),
        code('log() { echo "@@LOG $*"; }'),
        code(
            'setstatus() { echo "$1" > "$D/status.tmp" && mv -f "$D/status.tmp" "$D/status"; '
            'echo "@@STATUS $1"; }'
        ),
        # fail WHAT [OUTPUT]: WHAT is the engine's own sentence (stored in the local record),
        # OUTPUT what the server printed (shown once, never stored: it may quote any file).
        code('detail() { [ -z "${1:-}" ] || printf "%s\\n" "$1" | sed "s/^/@@DETAIL /"; }'),
        sh(
            'fail() {{ echo "@@FAIL $1"; detail "${{2:-}}"; sh "$D/cleanup.sh"; '
            "setstatus {failed}; exit 1; }}",
            failed=RunStatus.FAILED,
        ),
    ]


def apply_script(
    plan: Plan,
    paths: RunPaths,
    guard_seconds: int,
    policy: str = POLICY_RC_D,
    held: str = HELD_FILE,
) -> Shell:
    """The detached script: packages, commands, backup, validate, rename, reload, record."""
    run = paths.run_id
    lines = [
        *_detached_preamble(paths),
        # A rollback also disarms the guard: its timer must never restore this run later.
        sh(
            'rollback() {{ echo "@@FAIL $1"; detail "${{2:-}}"; '
            'log "restoring the previous files"; '
            "systemctl stop {timer} 2>/dev/null; "
            'sh "$D/restore.sh" rollback >/dev/null 2>&1; setstatus {rolled_back}; exit 1; }}',
            timer=revert_unit(run) + ".timer",
            rolled_back=RunStatus.ROLLED_BACK,
        ),
        # Whatever stops this script early (a command the shell could not run, set -u),
        # a run never stays half done: files renamed are put back.
        sh(
            'stopped_early() {{ case "$(cat "$D/status")" in '
            '{started}) fail "the apply stopped early";; '
            '{writing}) rollback "the apply stopped early";; esac; }}\n'
            "trap stopped_early EXIT\n"
            # A signal (its unit stopped) ends the script through that trap too: sh alone
            # would die at once, the run left half done until the next connect recovers it.
            "trap 'exit 1' HUP INT TERM",
            started=case_pattern(RunStatus.STARTED),
            writing=case_pattern(RunStatus.WRITING),
        ),
        code("export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a"),
    ]
    if plan.missing_packages:
        # The daemons of the new packages are held back as a whole run's install holds them
        # (POLICY_RC_D): none starts with its package's defaults, or on a port another server
        # still holds (nginx while Apache runs, before the `before` commands stop Apache).
        # _held_lines starts them once the step's files are in place.
        lines += [
            _hold_daemons(policy, held),
            _apt_install(plan.missing_packages),
            install_cleanup_script(policy),
        ]
    lines += _command_lines(plan, "before", "fail")
    # One chown and one chmod for all the files of the same owner and mode.
    same_rights: dict[tuple[str, str], list[FileChange]] = {}
    for change in plan.changed_files:
        rights = (f"{change.spec.owner}:{change.spec.group}", change.spec.mode)
        same_rights.setdefault(rights, []).append(change)
    for (owner, mode), changes in same_rights.items():
        temps = [_temp_path(change, run) for change in changes]
        lines.append(
            sh(
                "chown {owner} {temps} && chmod {mode} {temps} || fail {why}",
                owner=owner,
                temps=temps,
                mode=mode,
                why=f"could not set owner {owner} and mode {mode} on "
                + ", ".join(change.dest for change in changes),
            )
        )
    lines.append(sh('if [ -e {m} ]; then cp -a {m} "$B/manifest"; fi', m=MANIFEST))
    if plan.changed_files:
        lines.append(_backup_lines(plan.changed_files))
    lines.append(
        sh(
            "log {what}",
            what=f"backed up {len(plan.changed_files)} file(s) to {paths.backup_dir}",
        )
    )
    for changes in _validations(plan.changed_files):
        names = ", ".join(change.dest for change in changes)
        lines.append(
            sh(
                "log {what}\n"
                'out=$( ( {command} ) 2>&1 ) || fail {why} "$(echo "$out" | tail -n 5)"',
                what=f"validating {names}",
                command=validate_command(changes[0], run),
                why=f"validation of {names} failed",
            )
        )
    if plan.step.guard == "lockout" and plan.changed_files:
        lines.append(arm_revert_lines(paths, run, guard_seconds))
    lines.append(sh("setstatus {writing}", writing=RunStatus.WRITING))
    if plan.changed_files:
        # Every rename by one process (a mv a file cost 4 ms each, 0.4 s at 100 files): perl
        # is Essential on Debian and Ubuntu, and its rename is the rename(2) mv -f does,
        # atomic within the folder each staged file shares with its destination.
        pairs = [p for c in plan.changed_files for p in (_temp_path(c, run), c.dest)]
        lines.append(
            sh(
                'out=$(perl -e {renames} -- {pairs} 2>&1) || rollback {why} "$out"\nlog {what}',
                renames=RENAMES,
                pairs=pairs,
                why="could not move the new files into place",
                what=f"wrote {len(plan.changed_files)} file(s)",
            )
        )
    lines += _service_lines(plan)
    lines += _command_lines(plan, "after", "rollback")
    lines += _held_lines(plan, held)
    if any(c.approved for c in plan.files):
        lines.append(_manifest_lines(plan))
    guarded = plan.step.guard == "lockout" and plan.changed_files
    final = RunStatus.AWAITING_CONFIRM if guarded else RunStatus.DONE
    lines.append(sh("setstatus {final}", final=final))
    built = script(*lines)
    _refuse_secrets(plan, built)
    return built


# The renames of an apply, in order, each staged file onto its destination; the first that
# fails stops them, naming it (the rollback then puts every file back).
RENAMES = (
    "while (@ARGV) { my ($from, $to) = splice @ARGV, 0, 2; "
    'rename $from, $to or die "could not move $from to $to: $!\\n" }'
)


# The installed packages a step's packages brought along, read from dpkg's database: the
# packages named on the command line, then, breadth first, every installed package their
# Pre-Depends, Depends and Recommends name (each alternative, an architecture qualifier such
# as perl:any and a version taken off) or that provides a virtual package they name. Printed
# on one line, each name between spaces. `apt-cache depends --recurse --installed` said the
# same in 0.22-0.34 s a step on the series host (it loads apt's whole cache), and missed
# what a `:any` dependency brings (perl for opendkim); dpkg-query and awk take 11-16 ms.
BROUGHT_ALONG = code(
    "dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Provides}\\t"
    "${Pre-Depends}, ${Depends}, ${Recommends}\\n' 2>/dev/null | awk -F '\\t' '\n"
    '  function bare(word) { sub(/\\(.*/, "", word); sub(/:.*/, "", word); '
    'gsub(/[ \\t]/, "", word); return word }\n'
    # The names come as arguments, not -v (which would read backslashes in them): the queue's
    # first entries, taken out of ARGV before awk would open them as files; it reads the
    # database on its stdin. n is the queue's length from then on.
    "  BEGIN { for (n = 1; n < ARGC; n++) { queue[n] = ARGV[n]; seen[ARGV[n]] = 1 }\n"
    "    n = ARGC - 1; ARGC = 1 }\n"
    "  $1 ~ /^.[nc]/ { next }\n"
    "  {\n"
    "    installed[$2] = 1; deps[$2] = $4\n"
    '    count = split($3, provided, ",")\n'
    '    for (i = 1; i <= count; i++) { p = bare(provided[i]); if (p != "") '
    'providers[p] = providers[p] " " $2 }\n'
    "  }\n"
    "  END {\n"
    "    for (head = 1; head <= n; head++) {\n"
    "      m = split(deps[queue[head]], alternatives, /[,|]/)\n"
    "      for (j = 1; j <= m; j++) {\n"
    '        d = bare(alternatives[j]); if (d == "") continue\n'
    '        k = split((d in installed ? d : "") providers[d], found, " ")\n'
    "        for (f = 1; f <= k; f++) if (!(found[f] in seen)) "
    "{ seen[found[f]] = 1; queue[++n] = found[f] }\n"
    "      }\n"
    "    }\n"
    '    for (name in seen) printf " %s", name; print " "\n'
    "  }'"
)


def _held_lines(plan: Plan, held: str = HELD_FILE) -> list[Shell]:
    """Start what an apt transaction held back for this step (see POLICY_RC_D: a whole run's
    install, or the step's own apt-get in its apply), now that
    its files are in place, validated, its services reloaded and its commands run: the units
    whose package is one of the step's or one they brought along (BROUGHT_ALONG) and that
    are not running yet (a handler or a command of the step may have started them). A unit
    asked for outside any maintainer script ("-") is started by the next step that looks.
    The others stay held for their own step, whenever it is applied."""
    if not plan.packages:
        return []
    return [
        sh(
            "if [ -s {held} ]; then\n"
            "  mine=$({brought} {packages})\n"
            '  awk -v mine="$mine" \'index(mine, " " $1 " ") || $1 == "-"\' {held} '
            '| sort -u > "$D/held"\n'
            "  while read -r package unit action; do\n"
            # Started by the step already (a handler, a command), or under another name.
            '    systemctl -q is-active -- "$unit" && continue\n'
            # A socket cannot listen while its service runs (the step restarted dovecot):
            # the service serves now, the socket comes up with the next boot.
            '    case "$unit" in *.socket) s=$(systemctl show -p Triggers --value -- "$unit" '
            "2>/dev/null)\n"
            '      [ -n "$s" ] && systemctl -q is-active -- $s && continue;; esac\n'
            '    log "starting $unit, held back while $package was installed"\n'
            '    out=$(systemctl start -- "$unit" 2>&1) || rollback {why} "$unit: $out $('
            'journalctl -u "$unit" -n 5 --no-pager 2>/dev/null | tail -n 5)"\n'
            '  done < "$D/held"\n'
            '  awk -v mine="$mine" \'!(index(mine, " " $1 " ") || $1 == "-")\' {held} '
            "> {held}.tmp && mv -f {held}.tmp {held}\n"
            "fi",
            held=held,
            brought=BROUGHT_ALONG,
            packages=plan.packages,
            why="a daemon held back while its package was installed did not start",
        )
    ]


def policy_rc_d(held: str = HELD_FILE) -> Shell:
    """The policy-rc.d of the wizard's apt-get (see POLICY_RC_D): every start or restart a
    maintainer script of that transaction asks for is refused (101) and written down
    (package, unit, action) for its step; any other apt's pass (0)."""
    return sh(
        "#!/bin/sh\n# {mark}: daemons held back while the wizard installs packages\n"
        "# Asked as: policy-rc.d [--quiet] ID ACTION [RUNLEVEL]\n"
        "# Only the wizard's own apt-get sets {hold}: any other apt's daemons start as usual.\n"
        '[ -n "${{{hold}:-}}" ] || exit 0\n'
        'while [ $# -gt 0 ]; do case "$1" in --*) shift;; *) break;; esac; done\n'
        'case "${{2:-}}" in\n'
        '  start|restart) echo "${{DPKG_MAINTSCRIPT_PACKAGE:--}} $1 $2" >> {held};;\n'
        "esac\n"
        "exit 101\n",
        mark=POLICY_MARK,
        held=held,
        hold=HOLD_VARIABLE,
    )


def install_cleanup_script(policy: str = POLICY_RC_D) -> Shell:
    """Removes the install's policy-rc.d, never one of the server's own. Run by the install
    at its end, by its trap when it stops early, and by recovery when it was killed."""
    return sh(
        "if [ -f {policy} ] && grep -qF {mark} {policy}; then rm -f {policy}; fi\n",
        policy=policy,
        mark=POLICY_MARK,
    )


def _hold_daemons(policy: str, held: str) -> Shell:
    """Put the wizard's policy-rc.d in place for an apt transaction (see POLICY_RC_D); a
    policy-rc.d of the server's own is left as it is, and says what starts."""
    return sh(
        "mkdir -p {held_dir}\n"
        "if [ -e {policy} ] && ! grep -qF {mark} {policy}; then\n"
        "  log {theirs}\n"
        "else\n"
        # A here-document's end is a line of its own: the status is tested after it.
        "{write}\n"
        "[ $? -eq 0 ] && chmod 0755 {new} && mv -f {new} {policy} || fail {why}\n"
        "fi",
        held_dir=_directory(held),
        policy=policy,
        mark=POLICY_MARK,
        theirs="the server has a policy-rc.d of its own: left as it is, the daemons "
        "start as it says",
        write=heredoc(sh("base64 -d > {new}", new=policy + ".vw-new"), policy_rc_d(held).encode()),
        new=policy + ".vw-new",
        why="could not hold the daemons back (policy-rc.d)",
    )


def install_script(
    packages: tuple[str, ...],
    paths: RunPaths,
    policy: str = POLICY_RC_D,
    held: str = HELD_FILE,
) -> Shell:
    """The detached script installing the packages of a whole run in one apt transaction,
    the daemons held back (POLICY_RC_D) and policy-rc.d gone however it ends."""
    return script(
        *_detached_preamble(paths),
        # However it ends (apt failed, a signal), policy-rc.d goes; a run still "started"
        # failed. A kill -9 skips the trap: recovery runs cleanup.sh for a "started" run.
        sh(
            'ended() {{ sh "$D/cleanup.sh"; case "$(cat "$D/status")" in {started}) '
            'echo "@@FAIL the install stopped early"; setstatus {failed};; esac; }}\n'
            "trap ended EXIT\n"
            "trap 'exit 1' HUP INT TERM",
            started=case_pattern(RunStatus.STARTED),
            failed=RunStatus.FAILED,
        ),
        code("export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a"),
        _hold_daemons(policy, held),
        _apt_install(packages),
        code('sh "$D/cleanup.sh"'),
        sh(
            "units=$(awk '{{ print $2 }}' {held} 2>/dev/null | sort -u | paste -sd ' ' -)\n"
            '[ -z "$units" ] || log "held back until their step\'s files are in place: $units"',
            held=held,
        ),
        sh("setstatus {done}", done=RunStatus.DONE),
    )


def _backup_lines(changes: tuple[FileChange, ...]) -> Shell:
    """Copy every file about to be replaced that exists (a link as a link) to $B/files under
    its own path, in one cp (a process a file counted: about 5 ms each), and list them in
    $B/index; restore.sh copies them back from there."""
    listing = "".join(f"{index} {change.dest}\n" for index, change in enumerate(changes))
    return sh(
        "vw_backup() {{\n"
        "  set --\n"
        '  for f in {dests}; do if [ -e "$f" ] || [ -L "$f" ]; then set -- "$@" "$f"; fi; done\n'
        # From /: cp 9.1's --parents copies the folders' modes by their names without the
        # leading slash, relative to the current folder.
        '  [ $# -eq 0 ] || out=$(cd / && cp -a --parents -- "$@" "$B/files" 2>&1) '
        '|| fail {why} "$out"\n'
        "}}\n"
        'mkdir -p "$B/files" || fail {why}\nvw_backup\nprintf %s {listing} > "$B/index"',
        dests=[change.dest for change in changes],
        why="backup of the files about to be replaced failed",
        listing=listing,
    )


def _service_lines(plan: Plan) -> list[Shell]:
    """Enable the step's services, then run the handlers of the files that changed."""
    lines: list[Shell] = []
    handlers = plan.handlers()
    started_now: list[str] = []
    for service in plan.services_to_enable:
        # Started now, it reads the new files and needs no handler; already running (the
        # package's install started it with its defaults: fail2ban on Debian 13), it does.
        if service in handlers:
            lines.append(
                sh(
                    "systemctl -q is-active {service} || started_{n}=1",
                    service=service,
                    n=len(started_now),
                )
            )
            started_now.append(service)
        lines.append(
            sh(
                "log {what}\n"
                'out=$(systemctl enable --now {service} 2>&1) || rollback {why} "$out $('
                'journalctl -u {service} -n 5 --no-pager 2>/dev/null | tail -n 5)"',
                what=f"enabling {service}",
                service=service,
                why=f"enabling {service} failed",
            )
        )
    if handlers:
        # vw_children (before each handler), vw_settled and vw_renewed (after them all).
        lines.append(SETTLED)
    for index, (service, action) in enumerate(handlers.items()):
        handler = sh(
            "vw_before_{n}=$(vw_children {service})\n"
            "log {what}\n"
            'out=$({command} 2>&1) || rollback {why} "$out $('
            'journalctl -u {service} -n 5 --no-pager 2>/dev/null | tail -n 5)"',
            n=index,
            what=f"{action} {service}",
            command=handler_command(service, action),
            service=service,
            why=f"{action} of {service} failed",
        )
        if service in started_now:
            handler = sh(
                'if [ -z "${{started_{n}:-}}" ]; then\n{handler}\nfi',
                n=started_now.index(service),
                handler=handler,
            )
        lines.append(handler)
    if handlers:
        # The checks that follow must see the services as the handlers left them: wait until
        # systemd reports each one settled, and a daemon whose reload only signals its master
        # (nginx, Apache) has no worker of the old configuration left (see SETTLED), not a
        # fixed time.
        lines += [
            sh(
                'vw_settled {service} && vw_renewed {service} "${{vw_before_{n}:-}}"',
                service=service,
                n=index,
            )
            for index, service in enumerate(handlers)
        ]
    return lines


# `vw_settled UNIT`: wait (at most SETTLE_WAIT_S, looking every SETTLE_POLL_S) while systemd
# reports the unit (or any unit a pattern names) in transition (activating, reloading,
# deactivating), or active without a main process yet (a forking daemon before its PID file;
# a oneshot has none). A unit that is not loaded, inactive or failed is settled: the handler's
# own exit status already judged it. systemctl show's values are words without spaces, read by
# awk. Settled, it leaves the unit's main process in vw_main (when UNIT named one unit) for
# vw_renewed: one systemctl process less (7 ms).
SETTLE_WAIT_S = 15
SETTLE_POLL_S = 0.01
RENEW_WAIT_S = 1
# The waits are bounded by the clock, not by a count of polls: each poll starts processes (a
# subshell, sleep, systemctl), and on a busy machine 100 polls of 10 ms took up to 3 s.
# `vw_clock` reads the clock without a process: /proc/uptime's seconds, in hundredths, into
# vw_now.
SETTLED = sh(
    """\
vw_clock() {{
  read -r vw_up vw_idle < /proc/uptime
  vw_now=${{vw_up%.*}}${{vw_up#*.}}
}}
vw_settled() {{
  vw_clock; vw_end=$((vw_now + {settle_cs}))
  while [ "$vw_now" -lt "$vw_end" ]; do
    vw_main=$(systemctl show -p Type -p MainPID -p ActiveState -- "$1" 2>/dev/null | awk '
      BEGIN {{ RS = "" }}
      {{
        t = ""; a = ""; p = ""; units++
        for (i = 1; i <= NF; i++) {{
          k = substr($i, 1, index($i, "=") - 1); v = substr($i, index($i, "=") + 1)
          if (k == "Type") t = v; if (k == "ActiveState") a = v; if (k == "MainPID") p = v
        }}
        if (a ~ /^(activating|reloading|deactivating)$/) busy = 1
        if (a == "active" && p == "0" && t != "oneshot") busy = 1
      }}
      END {{ if (units == 1) print p; exit busy }}') && return 0
    sleep {poll}; vw_clock
  done
  vw_main=
  log "$1 did not settle within {limit} s"
}}
# `vw_children UNIT [PID]`: the child processes of the unit's main process (a master's
# workers), one a line; PID when the caller knows it. Read by the shell itself: no process
# but systemctl's, and none when polled with the PID.
vw_children() {{
  p=${{2:-$(systemctl show -p MainPID --value -- "$1" 2>/dev/null)}}
  [ "${{p:-0}}" -gt 0 ] 2>/dev/null || return 0
  for t in /proc/"$p"/task/*/children; do
    c=""; read -r c < "$t" 2>/dev/null
    [ -z "$c" ] || printf '%s\n' $c
  done
  true
}}
# `vw_renewed UNIT BEFORE`: a reload that only signals the master (nginx, Apache graceful)
# returns while the workers of the old configuration still take connections (nginx answers an
# unknown name with 444 there): wait until none of BEFORE (the children before the handler)
# is left. A unit whose children outlive a reload (sshd's sessions) waits at most
# {renew_limit} s, as long as the fixed pause this replaces.
# The main process is the one vw_settled read last (read again without it): a reload keeps
# it, and after a restart the new one has no child of BEFORE (nginx's own reload lets the old
# workers go about 0.1 s after the new ones started).
vw_renewed() {{
  [ -n "$2" ] || return 0
  vw_b=" $(echo $2) "
  vw_m=${{vw_main:-$(systemctl show -p MainPID --value -- "$1" 2>/dev/null)}}
  vw_clock; vw_end=$((vw_now + {renew_cs}))
  while :; do
    left=""
    for c in $(vw_children "$1" "$vw_m"); do
      case "$vw_b" in *" $c "*) left=1;; esac
    done
    [ -n "$left" ] || return 0
    vw_clock; [ "$vw_now" -lt "$vw_end" ] || return 0
    sleep {poll}
  done
}}""",
    settle_cs=SETTLE_WAIT_S * 100,
    poll=SETTLE_POLL_S,
    limit=SETTLE_WAIT_S,
    renew_cs=RENEW_WAIT_S * 100,
    renew_limit=RENEW_WAIT_S,
)


def _manifest_lines(plan: Plan) -> Shell:
    """Record the SHA-256 of every file of the step the user approved (those it wrote and those
    already as wanted), so the next connect can tell drift and a verify finds them all listed:
    the session needs no command of its own for it after an apply."""
    return manifest_script(c.dest for c in plan.files if c.approved)


def _command_lines(plan: Plan, stage: str, on_error: str) -> list[Shell]:
    lines = []
    handler = code("fail") if on_error == "fail" else code("rollback")
    for change in plan.commands:
        if change.command.stage != stage:
            continue
        label = _label(mask(change.run, plan.answers.secret_values()))
        lines.append(
            sh(
                "if ! {{ {skip}; }}; then\n"
                "  log {running}\n"
                '  out=$( ( {command} ) 2>&1 ) || {handler} {failed} "$(echo "$out" | '
                'tail -n 5)"\n'
                "fi",
                skip=guard_test(change.creates, change.unless),
                running=f"running: {label}",
                command=change.run,
                handler=handler,
                failed=f"command failed: {label}",
            )
        )
    return lines


def _refuse_secrets(plan: Plan, built: str) -> None:
    for secret in plan.answers.secret_values():
        if secret in built:
            raise WizardError(
                f"step {plan.step.id} would write a secret answer into the server's journal",
                "this is a bug in the step definition: secrets belong in files marked secret",
            )


def apply_plan(
    remote: Connector, plan: Plan, run_id: str, guard_seconds: int, on_event: EventSink
) -> ApplyOutcome:
    """Apply the plan on the server (one round trip plus the step's own work)."""
    paths = RunPaths(run_id)
    staged = stage_script(
        plan,
        paths,
        apply_script(plan, paths, guard_seconds),
        restore_script(plan, paths),
        cleanup_script(plan, paths),
    )
    return _run_staged(remote, staged, run_id, plan.answers.secret_values(), on_event)


def install_packages(
    remote: Connector, packages: tuple[str, ...], run_id: str, on_event: EventSink
) -> ApplyOutcome:
    """Install the packages of a whole run in one apt transaction, as a run of its own (the
    same lock, journal, recovery and log follow as an apply), the daemons held back for
    their steps (POLICY_RC_D)."""
    paths = RunPaths(run_id)
    staged = _stage_script(
        INSTALL_STEP,
        (),
        paths,
        install_script(packages, paths),
        code("true\n"),
        install_cleanup_script(),
    )
    return _run_staged(remote, staged, run_id, (), on_event)


def _run_staged(
    remote: Connector,
    staged: Shell,
    run_id: str,
    secrets: tuple[str, ...],
    on_event: EventSink,
) -> ApplyOutcome:
    """Run a staging script and follow its detached run to its end."""
    events: list[str] = []
    details: list[str] = []
    failure = ""
    status = ""
    busy: str | None = None
    stale: list[str] = []

    def handle(line: str) -> None:
        nonlocal failure, status, busy
        line = mask(line, secrets)
        if line.startswith("@@LOG "):
            events.append(line[6:])
            on_event(line[6:])
        elif line.startswith("@@APT "):
            # apt's own words, passed on as plain lines: the CLI and the TUI show them visibly.
            events.append("  " + line[6:])
            on_event("  " + line[6:])
        elif line.startswith("@@FAIL "):
            failure = line[7:]
            events.append("FAILED: " + failure)
            on_event("FAILED: " + failure)
        elif line.startswith("@@DETAIL "):
            details.append(line[9:])
            on_event("  | " + line[9:])
        elif line.startswith("@@STATUS "):
            on_event(f"[{line[9:]}]")
        elif line.startswith("@@RESULT "):
            status = line[9:].strip()
        elif line.startswith("@@BUSY"):
            busy = line[7:]
        elif line.startswith("@@STALE "):
            stale.append(line[8:])

    result = remote.run_script(staged, timeout=3600, on_line=handle)
    if busy is not None:
        raise ApplyBusy.from_lock_line(remote.target.host, busy)
    if stale:
        raise WizardError(
            f"{', '.join(stale)} changed on the server since the plan was made: nothing was "
            "applied",
            "Review the step again: the new plan shows the diff against what is there now.",
        )
    if not status:
        status = RunStatus.FAILED if not result.ok else "unknown"
        if not failure:
            failure = f"the apply ended without saying how (exit {result.exit_code})"
            details.append(mask(result.stderr.strip() or result.stdout.strip(), secrets)[-400:])
    if status not in FINAL | {RunStatus.AWAITING_CONFIRM}:
        failure = failure or f"the apply stopped in state '{status}'"
    return ApplyOutcome(run_id, status, tuple(events), failure, "\n".join(details))


def explain_failure(outcome: ApplyOutcome) -> ApplyFailed:
    """Turn a failed outcome into an error the user can act on."""
    reason = outcome.failure or outcome.status
    if outcome.detail:
        reason += "\n" + outcome.detail
    if "No space left" in reason or " 100% " in reason:
        hint = (
            "The server's disk is full. Free space (apt-get clean, journalctl --vacuum-size=100M, "
            "df -h to find what is large), then run the step again. Nothing was changed."
        )
    elif outcome.status == RunStatus.ROLLED_BACK:
        hint = "The previous files were restored and the services reloaded. Fix the cause above."
    elif outcome.status == RunStatus.FAILED:
        hint = "Nothing was changed on the server. Fix the cause above and run the step again."
    else:
        hint = (
            "The run did not end cleanly; connect again: the wizard reads the server's journal "
            "and finishes or undoes it."
        )
    return ApplyFailed(f"run {outcome.run_id}: {reason}", hint)
