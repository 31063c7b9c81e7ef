"""What a step would change: files with their diffs, commands, packages. Computed, never applied.

The server side of a plan (current files, command guards, installed packages) is read in one
round trip by one probe script.
"""

from __future__ import annotations

import base64
import difflib
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from wizard.answers import Answers
from wizard.remote import Remote, RemoteFile, parse_read_files, read_files_script
from wizard.render import evaluate, render_string, render_template
from wizard.steps import Command, FileSpec, Step

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

    @property
    def status(self) -> FileStatus:
        """Whether the file is new, changed, changed only in mode/owner, or unchanged."""
        if self.old is None:
            return "create"
        if self.old.content != self.new:
            return "update"
        if (self.old.mode, self.old.owner, self.old.group) != (
            self.spec.mode.zfill(4),
            self.spec.owner,
            self.spec.group,
        ):
            return "attributes"
        return "unchanged"

    def diff(self, secrets: Sequence[str] = ()) -> str:
        """A unified diff of old against new; secret files and secret values are masked."""
        if self.spec.secret:
            return f"(secret file {self.dest}: content hidden, {len(self.new)} bytes)\n"
        old_text = self.old.content.decode(errors="replace") if self.old else ""
        new_text = self.new.decode(errors="replace")
        lines = difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{self.dest} (server)" if self.old else "/dev/null",
            tofile=f"{self.dest} (new)",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        if self.status == "attributes" and self.old:
            text += (
                f"{self.dest}: mode/owner {self.old.mode} {self.old.owner}:{self.old.group} -> "
                f"{self.spec.mode.zfill(4)} {self.spec.owner}:{self.spec.group}\n"
            )
        return mask(text, secrets)

    def old_text(self, secrets: Sequence[str] = ()) -> str:
        """The current content as text, masked, for side-by-side views."""
        if self.spec.secret:
            return "(secret)"
        return mask(self.old.content.decode(errors="replace") if self.old else "", secrets)

    def new_text(self, secrets: Sequence[str] = ()) -> str:
        """The new content as text, masked, for side-by-side views."""
        return "(secret)" if self.spec.secret else mask(self.new.decode(errors="replace"), secrets)


@dataclass(frozen=True)
class CommandChange:
    """A command of the step and whether its guard says it would run now."""

    command: Command
    run: str
    creates: str | None
    unless: str | None
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
class DesiredState:
    """A step rendered against its answers: files, commands, packages (no server view yet)."""

    files: tuple[tuple[FileSpec, str, bytes], ...]
    commands: tuple[tuple[Command, str, str | None, str | None], ...]


def render_step(step: Step, context: Mapping[str, Any]) -> DesiredState:
    """Render the step's templates, paths and commands; skip those whose `when` is false."""
    files = []
    for spec in step.files:
        if spec.when and not evaluate(step, spec.when, context):
            continue
        dest = render_string(step, spec.dest, context)
        spec = replace(
            spec,
            owner=render_string(step, spec.owner, context),
            group=render_string(step, spec.group, context),
        )
        content = render_template(step, spec.template, context).encode()
        files.append((spec, dest, content))
    commands = []
    for command in step.commands:
        if command.when and not evaluate(step, command.when, context):
            continue
        commands.append(
            (
                command,
                render_string(step, command.run, context),
                render_string(step, command.creates, context) if command.creates else None,
                render_string(step, command.unless, context) if command.unless else None,
            )
        )
    return DesiredState(tuple(files), tuple(commands))


def guard_test(creates: str | None, unless: str | None) -> str:
    """A shell test that succeeds when the command should be skipped."""
    tests = []
    if creates:
        tests.append(f"test -e {shlex.quote(creates)}")
    if unless:
        tests.append(f"( {unless} ) >/dev/null 2>&1")
    return " || ".join(tests) if tests else "false"


def probe_script(step: Step, desired: DesiredState) -> str:
    """One script: the step's files, the command guards, the package and service status."""
    paths = [dest for _, dest, _ in desired.files]
    lines = [read_files_script(paths)]
    for index, (_, _, creates, unless) in enumerate(desired.commands):
        lines.append(f"if {guard_test(creates, unless)}; then echo '@@SKIP {index}'; fi")
    if step.packages:
        pkgs = " ".join(shlex.quote(p) for p in step.packages)
        lines.append(
            f"dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' {pkgs} 2>/dev/null"
            ' | awk \'$1=="ii"{print "@@PKG " $2}\''
        )
    for service in step.enable:
        quoted = shlex.quote(service)
        lines.append(
            f"systemctl is-enabled --quiet {quoted} 2>/dev/null && "
            f"systemctl is-active --quiet {quoted} && echo '@@ENABLED {service}'"
        )
    lines.append("true")
    return "\n".join(lines) + "\n"


def make_plan(remote: Remote, step: Step, answers: Answers, context: Mapping[str, Any]) -> Plan:
    """Render the step and compare with the server (one round trip)."""
    desired = render_step(step, context)
    output = remote.run_script(probe_script(step, desired)).stdout
    paths = [dest for _, dest, _ in desired.files]
    current = parse_read_files(output, paths)
    skipped = {int(line.split()[1]) for line in output.splitlines() if line.startswith("@@SKIP ")}
    installed = {line.split()[1] for line in output.splitlines() if line.startswith("@@PKG ")}
    enabled = {line.split()[1] for line in output.splitlines() if line.startswith("@@ENABLED ")}
    return Plan(
        step=step,
        answers=answers,
        files=tuple(
            FileChange(spec, dest, content, current[dest]) for spec, dest, content in desired.files
        ),
        commands=tuple(
            CommandChange(command, run, creates, unless, index not in skipped)
            for index, (command, run, creates, unless) in enumerate(desired.commands)
        ),
        missing_packages=tuple(p for p in step.packages if p not in installed),
        services_to_enable=tuple(s for s in step.enable if s not in enabled),
    )


def encode_content(content: bytes) -> str:
    """Base64 in 76-column lines, for heredocs in scripts."""
    return base64.encodebytes(content).decode()
