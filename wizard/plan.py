"""What a step would change: files with their diffs, commands, packages. Computed, never applied.

The server side of a plan (current files, command guards, installed packages) is read in one
round trip by one probe script.
"""

from __future__ import annotations

import difflib
import hashlib
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from wizard.answers import Answers
from wizard.connector import Connector
from wizard.errors import WizardError
from wizard.render import evaluate, render_shell, render_string, render_template
from wizard.serverfiles import CONTENT_LIMIT, RemoteFile, parse_read_files, read_files_script
from wizard.shell import Shell, code, heredoc, join, script, sh
from wizard.steps import Command, FileSpec, NamedValidator, Step
from wizard.validators import validator

FileStatus = Literal["create", "update", "attributes", "unchanged"]
MASK = "********"


@dataclass(frozen=True)
class FileChange:
    """One file of the step: what is on the server and what the step wants there."""

    spec: FileSpec
    dest: str
    new: bytes
    old: RemoteFile | None
    approved: bool = True
    # The step's validate line rendered (values quoted); `{new}`, `{copy}` and `{run}` in it
    # stand for "$new", "$copy" and $run, set by the apply script.
    validate: Shell | None = None
    # A secret file with a `compare` test: whether the server holds its secret already (its
    # content is never read back); None for every other file, compared here.
    same: bool | None = None

    @property
    def status(self) -> FileStatus:
        """Whether the file is new, changed, changed only in mode/owner, or unchanged.

        Anything but a regular file at the destination (a symbolic link) is an update: it is
        replaced by a regular file. Files too large to download are compared by SHA-256.
        """
        old = self.old
        if self.same is not None:
            return "unchanged" if self.same else ("create" if old is None else "update")
        if old is None:
            return "create"
        if old.kind != "file" or not self._same_content(old):
            return "update"
        if (old.mode, old.owner, old.group) != (
            self.spec.mode.zfill(4),
            self.spec.owner,
            self.spec.group,
        ):
            return "attributes"
        return "unchanged"

    def _same_content(self, old: RemoteFile) -> bool:
        if old.content is not None:
            return old.content == self.new
        return old.size == len(self.new) and old.sha256 == hashlib.sha256(self.new).hexdigest()

    def diff(self, secrets: Sequence[str] = ()) -> str:
        """A unified diff of old against new; secret files and secret values are masked.

        What cannot be shown as lines is summarised in one line instead: a symbolic link (its
        target is never read), a binary or large file (its size and SHA-256).
        """
        notes = self._notes()
        if self.spec.secret:
            differs = "; the server does not hold it yet" if self.same is False else ""
            notes.append(
                f"(secret file {self.dest}: content hidden, {len(self.new)} bytes{differs})"
            )
            return mask("".join(note + "\n" for note in notes), secrets)
        old_lines = _text_lines(self.old.content) if self.old and self.old.is_text else []
        new_lines = _text_lines(self.new) if _is_text(self.new) else []
        if self.old is None:
            fromfile = "/dev/null"
        elif self.old.is_text:
            fromfile = f"{self.dest} (server)"
        else:
            fromfile = f"{self.dest} (server, not shown)"
        lines = difflib.unified_diff(
            old_lines, new_lines, fromfile=fromfile, tofile=f"{self.dest} (new)"
        )
        text = "".join(note + "\n" for note in notes)
        text += "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        if self.status == "attributes" and self.old:
            text += (
                f"{self.dest}: mode/owner {self.old.mode} {self.old.owner}:{self.old.group} -> "
                f"{self.spec.mode.zfill(4)} {self.spec.owner}:{self.spec.group}\n"
            )
        return mask(text, secrets)

    def _notes(self) -> list[str]:
        """One line for each side that is not shown as text."""
        notes = []
        old = self.old
        if old is not None and old.kind == "symlink":
            notes.append(
                f"{self.dest} (server) is {old.describe()}; it will be replaced by a regular file"
            )
        elif old is not None and not old.is_text and self.status == "update":
            notes.append(f"{self.dest} (server) is {old.describe()}: not shown, will be replaced")
        # A secret file's digest would let a dictionary attack find the secret in it.
        if not self.spec.secret and self.status in ("create", "update") and not _is_text(self.new):
            notes.append(
                f"{self.dest} (new) is a {'binary' if len(self.new) <= CONTENT_LIMIT else 'large'}"
                f" file, {len(self.new)} bytes, sha256 {hashlib.sha256(self.new).hexdigest()}"
            )
        return notes

    def old_text(self, secrets: Sequence[str] = ()) -> str:
        """The current content as text, masked, for side-by-side views (a one-line summary in
        parentheses when it is not text)."""
        if self.spec.secret:
            return "(secret)"
        if self.old is None:
            return ""
        if not self.old.is_text:
            return mask(f"({self.old.describe()})", secrets)
        assert self.old.content is not None
        return mask(self.old.content.decode(), secrets)

    def new_text(self, secrets: Sequence[str] = ()) -> str:
        """The new content as text, masked, for side-by-side views."""
        if self.spec.secret:
            return "(secret)"
        if not _is_text(self.new):
            return f"(a binary file, {len(self.new)} bytes)"
        return mask(self.new.decode(), secrets)


def _is_text(content: bytes) -> bool:
    """True when the content can be shown as lines: small enough, UTF-8, no NUL byte."""
    if len(content) > CONTENT_LIMIT or b"\x00" in content:
        return False
    try:
        content.decode()
    except UnicodeDecodeError:
        return False
    return True


def _text_lines(content: bytes | None) -> list[str]:
    return (content or b"").decode().splitlines(keepends=True)


@dataclass(frozen=True)
class CommandChange:
    """A command of the step and whether its guard says it would run now."""

    command: Command
    run: Shell
    creates: str | None
    unless: Shell | None
    will_run: bool


@dataclass(frozen=True)
class Plan:
    """Everything one step would do to the server, for review."""

    step: Step
    answers: Answers
    files: tuple[FileChange, ...]
    commands: tuple[CommandChange, ...]
    missing_packages: tuple[str, ...]
    services_to_enable: tuple[str, ...]
    # Every package of the step for these answers, installed or not: its `packages` and the
    # `[[install]]` sets whose condition holds. Their daemons are the step's to start.
    packages: tuple[str, ...]

    @property
    def changed_files(self) -> tuple[FileChange, ...]:
        """The approved files that differ from the server."""
        return tuple(f for f in self.files if f.approved and f.status != "unchanged")

    @property
    def has_changes(self) -> bool:
        """True when applying would change anything on the server."""
        return bool(
            self.changed_files
            or self.missing_packages
            or self.services_to_enable
            or any(c.will_run for c in self.commands)
        )

    def handlers(self) -> dict[str, str]:
        """The systemctl verb per service whose files changed.

        A reload becomes reload-or-restart: a service that is not running yet (just
        installed, or failed) is started with the new files instead of refusing the reload.
        """
        wanted: dict[str, str] = {}
        for change in self.changed_files:
            for service in change.spec.notify:
                action = self.step.handlers.get(service, "reload")
                wanted[service] = (
                    action if action in ("restart", "regenerate") else ("reload-or-restart")
                )
        return wanted

    def with_approval(self, dest: str, approved: bool) -> Plan:
        """The same plan with one file approved or skipped."""
        files = tuple(replace(f, approved=approved) if f.dest == dest else f for f in self.files)
        return replace(self, files=files)

    def summary(self) -> str:
        """One line: what would change."""
        if not self.has_changes:
            return f"{self.step.id}: nothing to change"
        parts = []
        if self.missing_packages:
            parts.append(f"install {' '.join(self.missing_packages)}")
        counts: dict[str, int] = {}
        for change in self.changed_files:
            counts[change.status] = counts.get(change.status, 0) + 1
        parts += [f"{n} file(s) to {s}" for s, n in counts.items()]
        runs = sum(1 for c in self.commands if c.will_run)
        if runs:
            parts.append(f"{runs} command(s) to run")
        if self.services_to_enable:
            parts.append(f"enable {' '.join(self.services_to_enable)}")
        return f"{self.step.id}: " + ", ".join(parts)


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in the text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class DesiredFile:
    """One file of a step rendered against its answers."""

    spec: FileSpec
    dest: str
    content: bytes
    validate: Shell | None
    # A secret file's compare test, rendered (see steps.FileSpec.compare).
    compare: Shell | None = None


@dataclass(frozen=True)
class DesiredCommand:
    """One command of a step rendered against its answers: shell, values quoted."""

    command: Command
    run: Shell
    creates: str | None
    unless: Shell | None


@dataclass(frozen=True)
class DesiredState:
    """A step rendered against its answers: files, commands, packages (no server view yet)."""

    files: tuple[DesiredFile, ...]
    commands: tuple[DesiredCommand, ...]
    packages: tuple[str, ...]


# What `{new}`, `{copy}` and `{run}` of a validate line become: shell variables the apply
# script sets (quoted there), so no path is pasted into the line.
VALIDATE_PLACEHOLDERS = {"{new}": '"$new"', "{copy}": '"$copy"', "{run}": "$run"}


def _destination(step: Step, template: str, context: Mapping[str, Any]) -> str:
    dest = render_string(step, template, context)
    if (
        not dest.startswith("/")
        or posixpath.normpath(dest) != dest
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in dest)
    ):
        raise WizardError(
            f"step {step.id}: the destination '{dest!r}' is not a plain absolute path",
            "this is a bug in the step definition; report it with the step id",
        )
    return dest


def render_validate(step: Step, line: str, context: Mapping[str, Any]) -> Shell:
    """A validate line rendered as shell, its placeholders turned into the apply's variables."""
    for placeholder, variable in VALIDATE_PLACEHOLDERS.items():
        line = line.replace(placeholder, variable)
    return render_shell(step, line, context)


def render_named_validator(step: Step, named: NamedValidator, context: Mapping[str, Any]) -> Shell:
    """A named validator's script rendered as shell with its parameters only, each a Jinja
    expression of the step evaluated in the step's context (wizard/validators.py)."""
    found = validator(named.name)
    if set(found.params) != set(named.params):
        raise WizardError(
            f"step {step.id}: the validator {found.name} takes the parameters "
            f"{', '.join(found.params) or 'none'}, the step gives "
            f"{', '.join(named.params) or 'none'}",
            "this is a bug in the step definition; report it with the step id",
        )
    params = {name: evaluate(step, expr, context) for name, expr in named.params.items()}
    return render_shell(step, found.body(), params)


def _file_validate(step: Step, spec: FileSpec, context: Mapping[str, Any]) -> Shell | None:
    if spec.validate_with is not None:
        return render_named_validator(step, spec.validate_with, context)
    return render_validate(step, spec.validate, context) if spec.validate else None


def _validate_in(step: Step, spec: FileSpec) -> str | None:
    """The directory whose copy the file is validated in: the step's, or its named
    validator's (a validator that reads "$copy" needs it)."""
    if spec.validate_with is None:
        return spec.validate_in
    own = validator(spec.validate_with.name).validate_in
    if own and spec.validate_in and own != spec.validate_in:
        raise WizardError(
            f"step {step.id}: {spec.dest} is validated in {spec.validate_in}, but the "
            f"validator {spec.validate_with.name} checks a copy of {own}",
            "this is a bug in the step definition; report it with the step id",
        )
    return own or spec.validate_in


def render_step(step: Step, context: Mapping[str, Any]) -> DesiredState:
    """Render the step's templates, paths and commands; skip those whose `when` is false."""
    files = []
    for each in step.files:
        if each.when and not evaluate(step, each.when, context):
            continue
        # One file, or one per item of `for_each` with `item` in its context.
        items = list(evaluate(step, each.for_each, context)) if each.for_each else [None]
        for item in items:
            where = {**context, "item": item} if each.for_each else context
            dest = _destination(step, each.dest, where)
            spec = replace(
                each,
                owner=render_string(step, each.owner, where),
                group=render_string(step, each.group, where),
                validate_in=_validate_in(step, each),
            )
            content = render_template(step, spec.template, where).encode()
            validate = _file_validate(step, spec, where)
            compare = (
                render_shell(step, spec.compare, where) if spec.secret and spec.compare else None
            )
            files.append(DesiredFile(spec, dest, content, validate, compare))
    commands = []
    for command in step.commands:
        if command.when and not evaluate(step, command.when, context):
            continue
        commands.append(
            DesiredCommand(
                command,
                render_shell(step, command.run, context),
                _destination(step, command.creates, context) if command.creates else None,
                render_shell(step, command.unless, context) if command.unless else None,
            )
        )
    return DesiredState(tuple(files), tuple(commands), step_packages(step, context))


def step_packages(step: Step, context: Mapping[str, Any]) -> tuple[str, ...]:
    """The step's packages for these answers: its `packages`, then those of every
    `[[install]]` whose condition holds, each once."""
    packages = list(step.packages)
    for conditional in step.conditional_packages:
        if evaluate(step, conditional.when, context):
            packages += conditional.packages
    return tuple(dict.fromkeys(packages))


def guard_test(creates: str | None, unless: Shell | None) -> Shell:
    """A shell test that succeeds when the command should be skipped."""
    tests = []
    if creates:
        tests.append(sh("test -e {path}", path=creates))
    if unless:
        tests.append(sh("( {unless} ) >/dev/null 2>&1", unless=unless))
    return join(tests, " || ") if tests else code("false")


def probe_script(step: Step, desired: DesiredState) -> Shell:
    """One script: the step's files, the command guards, the package and service status."""
    unread = {f.dest for f in desired.files if f.compare is not None}
    lines = [read_files_script([f.dest for f in desired.files], unread)]
    for index, desired_file in enumerate(desired.files):
        if desired_file.compare is not None:
            lines.append(compare_lines(index, desired_file.content, desired_file.compare))
    for index, command in enumerate(desired.commands):
        lines.append(
            sh(
                "if {test}; then echo @@SKIP {index}; fi",
                test=guard_test(command.creates, command.unless),
                index=index,
            )
        )
    if desired.packages:
        lines.append(
            sh(
                "dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' {packages} 2>/dev/null"
                ' | awk \'$1=="ii"{{print "@@PKG " $2}}\'',
                packages=desired.packages,
            )
        )
    for service in step.enable:
        lines.append(
            sh(
                "systemctl is-enabled --quiet {service} 2>/dev/null && "
                "systemctl is-active --quiet {service} && echo @@ENABLED {service}",
                service=service,
            )
        )
    lines.append(code("true"))
    return script(*lines)


def guessed_probe(step: Step, context: Mapping[str, Any]) -> Shell | None:
    """The probe script make_plan would send for the step in this context, to read it ahead
    (Remote.read_ahead) before the context is final. None for a step that compares a secret:
    its value goes to the server only in the probe of the plan that needs it."""
    desired = render_step(step, context)
    if any(f.compare is not None for f in desired.files):
        return None
    return probe_script(step, desired)


def compare_lines(index: int, content: bytes, compare: Shell) -> Shell:
    """A secret file's compare test, `@@SAME index` when it passes.

    The secret travels inside the probe script as the apply's staged files do (base64 in a
    here-document); `vw_secret` decodes it into the pipe of the command that reads it: never
    in argv, a file or a log.
    """
    return sh(
        "vw_secret() {{ {decode}\n}}\n"
        "if ( {compare} ) </dev/null >/dev/null 2>&1; then echo @@SAME {index}; fi\n"
        "unset -f vw_secret",
        decode=heredoc(code("base64 -d"), content),
        compare=compare,
        index=index,
    )


def _refuse_odd_destinations(step: Step, found: Iterable[RemoteFile | None]) -> None:
    """A directory or a special file where the step writes a file: nothing is planned.

    Renaming a file onto a directory moves it inside; replacing a device or a fifo would
    break whatever uses it. Both need a person to decide.
    """
    for remote in found:
        if remote is not None and remote.kind in ("directory", "other"):
            raise WizardError(
                f"step {step.id} writes the file {remote.path}, but on the server that path is "
                f"{remote.describe()}. Nothing was changed.",
                f"Look at what is there (ls -la {remote.path}); if it is not needed, move it "
                f"aside (mv {remote.path} {remote.path}.orig) and plan the step again.",
            )


def make_plan(remote: Connector, step: Step, answers: Answers, context: Mapping[str, Any]) -> Plan:
    """Render the step and compare with the server (one round trip)."""
    desired = render_step(step, context)
    output = remote.run_script(probe_script(step, desired)).stdout
    paths = [f.dest for f in desired.files]
    current = parse_read_files(output, paths)
    _refuse_odd_destinations(step, current.values())
    skipped = {int(line.split()[1]) for line in output.splitlines() if line.startswith("@@SKIP ")}
    installed = {line.split()[1] for line in output.splitlines() if line.startswith("@@PKG ")}
    enabled = {line.split()[1] for line in output.splitlines() if line.startswith("@@ENABLED ")}
    same = {int(line.split()[1]) for line in output.splitlines() if line.startswith("@@SAME ")}
    return Plan(
        step=step,
        answers=answers,
        files=tuple(
            FileChange(
                f.spec,
                f.dest,
                f.content,
                current[f.dest],
                validate=f.validate,
                same=None if f.compare is None else index in same,
            )
            for index, f in enumerate(desired.files)
        ),
        commands=tuple(
            CommandChange(c.command, c.run, c.creates, c.unless, index not in skipped)
            for index, c in enumerate(desired.commands)
        ),
        missing_packages=tuple(p for p in desired.packages if p not in installed),
        services_to_enable=tuple(s for s in step.enable if s not in enabled),
        packages=desired.packages,
    )
