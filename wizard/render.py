"""Renders a step's templates and question defaults with Jinja (StrictUndefined).

Two environments per step folder, made once: one for configuration files (a value is written
as its text: answers are typed, so a domain cannot hold a `;`), and one for shell, used for
commands, guards, validate lines and `*.sh.j2` scripts, in which every `{{ value }}` becomes
one quoted shell word (wizard.shell) and may only stand in a plain word, never inside quotes.

Compiling is most of rendering's cost: text without Jinja syntax is not compiled at all, and
template files and template strings (a destination, a command, a guard) are compiled once per
content, kept in the user's cache folder for the next run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2
import platformdirs

from wizard import netmatch, sshdconfig
from wizard.errors import WizardError
from wizard.shell import Shell, ShellContextError, quote, substitute
from wizard.steps import Step

SHELL_TEMPLATE_SUFFIX = ".sh.j2"


class _Collector(threading.local):
    """The values of the shell render under way in this thread."""

    nonce: str = ""
    values: list[Shell]
    kinds: list[bool]


_collector = _Collector()


def _shell_finalize(value: Any) -> str:
    if not _collector.nonce:
        raise RuntimeError("a shell template rendered outside render_shell: this is a bug")
    _collector.values.append(quote(value))
    _collector.kinds.append(not isinstance(value, Shell | int) or isinstance(value, bool))
    return f"\x00{_collector.nonce}:{len(_collector.values) - 1}\x00"


# The marks that start Jinja syntax: a string without any of them renders as itself.
JINJA_MARKS = ("{{", "{%", "{#")


def _bytecode_cache(for_shell: bool) -> jinja2.BytecodeCache | None:
    """Compiled template files, by name and content, in the user's cache folder.

    The code Jinja generates depends on its version and on the environment's finalize (the
    shell one quotes), so each has a folder of its own. No cache when it cannot be written.
    """
    kind = "shell" if for_shell else "text"
    folder = platformdirs.user_cache_path("vps-wizard") / f"jinja-{jinja2.__version__}-{kind}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


class _Loader(jinja2.BaseLoader):
    """A step folder's template files, and the template strings compiled so far under the
    name of their digest: both reach the environment's bytecode cache, so a command compiles
    only the strings (destinations, commands, guards) no earlier run of this version saw."""

    def __init__(self, source_dir: str) -> None:
        self.files = jinja2.FileSystemLoader(source_dir)
        self.strings: dict[str, str] = {}

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        text = self.strings.get(template)
        if text is not None:
            return text, None, None
        return self.files.get_source(environment, template)


# The name a template string is loaded under: not a path any step folder can hold.
STRING_NAME = "\x00string:"


@functools.lru_cache(maxsize=128)
def _environment(source_dir: str, for_shell: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_Loader(source_dir),
        bytecode_cache=_bytecode_cache(for_shell),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=_shell_finalize if for_shell else None,
    )
    # Pure functions over the facts (server text is their data, never code).
    env.globals.update(sshdconfig.template_globals())
    env.globals.update(netmatch.template_globals())
    return env


def environment(step: Step) -> jinja2.Environment:
    """The Jinja environment for configuration files of the step's folder."""
    return _environment(step.source_dir, False)


@functools.lru_cache(maxsize=4096)
def _compiled(source_dir: str, for_shell: bool, text: str) -> jinja2.Template:
    """A template string of a step folder, loaded once a process, compiled once a version
    (see _Loader)."""
    env = _environment(source_dir, for_shell)
    assert isinstance(env.loader, _Loader)
    name = STRING_NAME + hashlib.sha256(text.encode()).hexdigest()
    env.loader.strings[name] = text
    return env.get_template(name)


@functools.lru_cache(maxsize=4096)
def _expression(source_dir: str, expression: str) -> Any:
    """A Jinja expression of a step folder (a step definition's: never an answer or a
    server's text), compiled once a version as the template compile_expression makes."""
    template = _compiled(source_dir, False, "{% set result = (" + expression + ") %}")
    return jinja2.environment.TemplateExpression(template, undefined_to_none=False)


@contextlib.contextmanager
def _step_bug(step: Step, what: str) -> Iterator[None]:
    """A template error is a bug of the step definition: say which step and what failed."""
    try:
        yield
    except jinja2.TemplateError as error:
        raise WizardError(
            f"step {step.id}: {what} failed: {error}",
            "this is a bug in the step definition; report it with the step id",
        ) from None
    except ShellContextError as error:
        raise WizardError(
            f"step {step.id}: {what}: {error}",
            "this is a bug in the step definition; report it with the step id",
        ) from None


def _render_shell(step: Step, what: str, render: Any) -> Shell:
    with _step_bug(step, what):
        _collector.nonce = secrets.token_hex(4)
        _collector.values, _collector.kinds = [], []
        try:
            marked = render(_environment(step.source_dir, True))
            return substitute(marked, _collector.nonce, _collector.values, _collector.kinds)
        finally:
            _collector.nonce = ""


def render_template(step: Step, template: str, context: Mapping[str, Any]) -> str:
    """Render one template file of the step (a `*.sh.j2` one as shell, values quoted)."""
    if template.endswith(SHELL_TEMPLATE_SUFFIX):
        return _render_shell(
            step, f"template {template}", lambda env: env.get_template(template).render(context)
        )
    with _step_bug(step, f"template {template}"):
        return environment(step).get_template(template).render(context)


def render_string(step: Step, text: str, context: Mapping[str, Any]) -> str:
    """Render a short template string that is not shell (a destination path, an owner)."""
    if not any(mark in text for mark in JINJA_MARKS):
        return text
    with _step_bug(step, f"'{text}'"):
        return _compiled(step.source_dir, False, text).render(context)


def render_shell(step: Step, text: str, context: Mapping[str, Any]) -> Shell:
    """Render a command, guard or validate line: every value one quoted word, checked."""
    return _render_shell(
        step, f"'{text}'", lambda _: _compiled(step.source_dir, True, text).render(context)
    )


def evaluate(step: Step, expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a Jinja expression (a question default, a `when` condition)."""
    with _step_bug(step, f"expression '{expression}'"):
        return _expression(step.source_dir, expression)(**context)
