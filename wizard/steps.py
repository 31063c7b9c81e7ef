"""The values a step is made of: questions, files, commands, checks. Steps are data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

CommandStage = Literal["before", "after"]


class Role(StrEnum):
    """What an answer of a step means to the engine and to other steps. A step declares the
    roles its answers fill (`provides`); the engine reads them by role, never by step id."""

    # The admin the wizard logs in as once the step is applied.
    ADMIN_USER = "admin_user"
    # The port sshd serves once the step is applied.
    SSHD_PORT = "sshd_port"
    # More ports the firewall lets in, beyond those the steps declare.
    EXTRA_PORTS = "extra_ports"
    # The site's domain, the default of every later question about the domain.
    SITE_DOMAIN = "site_domain"
    # The server's fully qualified name (its domain is the site's until one is given).
    HOST_NAME = "host_name"
    # The server's public IPv6 address (no prefix length): the zone's AAAA records.
    IPV6_ADDRESS = "ipv6_address"


# "regenerate": systemd's generators run again (daemon-reload), then the unit restarts if it is
# active. Ubuntu 24.04's ssh.socket is generated from sshd_config's Port: a reload of ssh does
# not move it.
ServiceAction = Literal["reload", "restart", "reload-or-restart", "regenerate"]


@dataclass(frozen=True)
class Question:
    """One typed question of a step's form.

    `default` is a Jinja expression evaluated against the server's facts and the other
    steps' answers (for example `facts.fqdn`), or a literal value when `default_literal` is set.
    """

    name: str
    type: str
    prompt: str
    help: str = ""
    default: str | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    required: bool = True
    # A Jinja expression over the answers of the questions before this one: when false, the
    # question is not asked (the form hides it) and its answer is not checked.
    when: str | None = None
    # A Jinja expression over the facts giving the choices (the PHP versions a release has).
    choices_from: str | None = None
    # integer: the smallest and the largest answer accepted (None: no bound).
    min: int | None = None
    max: int | None = None
    # text: a regular expression the whole answer must match, and what a refusal says instead
    # of showing the expression.
    pattern: str | None = None
    pattern_help: str = ""
    # list: the type of each item (any scalar type; the item is checked as a question of that
    # type with this question's other fields). table: one question per column of a row.
    item: str | None = None
    columns: tuple[Question, ...] = ()


@dataclass(frozen=True)
class NamedValidator:
    """`validate = { with = "NAME", params = { ... } }`: a validator defined once in
    wizard/validators.py, its parameters Jinja expressions rendered in the step's context."""

    name: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileSpec:
    """A file the step owns on the server, rendered from a template.

    `validate` is a shell command run on the new content before it replaces the old; `{new}`
    stands for the path of the new content. With `validate_in` (a configuration directory such
    as /etc/nginx), it runs on a throw-away copy of that directory, `{copy}`, in which every
    file the run stages is in place and the directory's own absolute paths point into the
    copy: the whole configuration is checked as it will be, the live one untouched.
    `validate_with` names a validator of wizard/validators.py instead of a shell command
    (step.toml's `validate = { with = "NAME" }`). `notify` names services whose handler runs
    when the file changed.

    `compare`, for a secret file, is a shell test the plan runs on the server instead of
    reading the file back: `vw_secret` prints the content the step would write (into the one
    process it is piped to), and the test exits 0 when the server already holds that secret
    (a password that verifies against its stored hash): the file is then not written again.

    With `for_each` (a Jinja expression giving a list), the spec stands for one file per item,
    `item` in its context: a step that rewrites the server's own files found by the facts.
    """

    template: str
    dest: str
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"
    validate: str | None = None
    validate_in: str | None = None
    validate_with: NamedValidator | None = None
    secret: bool = False
    notify: tuple[str, ...] = ()
    when: str | None = None
    compare: str | None = None
    for_each: str | None = None


@dataclass(frozen=True)
class Command:
    """An idempotent command: skipped when `creates` exists or `unless` succeeds.

    `before` commands run before the files are written (a user must exist before a file can
    be owned by them); `after` commands run once files and handlers are done. `script` names a
    Jinja file in the step's folder holding a longer command (step.toml's
    `run = { script = "FILE.sh.j2" }`): the catalog loads its text as `run`, rendered and
    quoted as an inline one.
    """

    run: str = ""
    script: str | None = None
    stage: CommandStage = "after"
    creates: str | None = None
    unless: str | None = None
    when: str | None = None
    timeout: int = 900


@dataclass(frozen=True)
class ConditionalPackages:
    """Packages the step installs only when `when` (a Jinja expression over the answers, the
    other steps' answers and the facts) holds: the web server a step's answer chose. Declared
    rather than installed by a command, so a run of several steps installs them in its one
    apt transaction, their daemons held back like the step's other packages."""

    packages: tuple[str, ...]
    when: str


@dataclass(frozen=True)
class CheckSpec:
    """A verification check by id, with its parameters (Jinja expressions rendered first)."""

    id: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """Answers that contradict each other or another step's, refused at the question.

    `when` is a Jinja expression over `answers` and `steps` (the other steps' answers); when it
    is true, the answer to `question` is refused with `reason`, and `hint` says what to do.
    """

    question: str
    when: str
    reason: str
    hint: str = ""


@dataclass(frozen=True)
class Reveal:
    """A file the step makes on the server that the user must keep a copy of (a backup
    repository's password): shown once, after the apply that made it, then never again by
    the wizard (the server keeps a mark that it was shown)."""

    path: str
    label: str


@dataclass(frozen=True)
class Step:
    """One step of the catalog, loaded from templates/<id>/step.toml."""

    id: str
    title: str
    help: str
    chapters: str = ""
    requires: tuple[str, ...] = ()
    applies_to: tuple[str, ...] = ("debian", "ubuntu")
    questions: tuple[Question, ...] = ()
    packages: tuple[str, ...] = ()
    conditional_packages: tuple[ConditionalPackages, ...] = ()
    files: tuple[FileSpec, ...] = ()
    commands: tuple[Command, ...] = ()
    handlers: Mapping[str, ServiceAction] = field(default_factory=dict)
    enable: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    depends_on_ports: bool = False
    # Packages whose arrival changes this step's files (fail2ban's postfix-auth jail turns on
    # with Postfix): a step installing one makes this step outdated once applied.
    depends_on_packages: tuple[str, ...] = ()
    guard: Literal["lockout"] | None = None
    checks: tuple[CheckSpec, ...] = ()
    source_dir: str = ""
    refusals: tuple[Refusal, ...] = ()
    reveals: tuple[Reveal, ...] = ()
    # The roles the step's answers fill: role -> question name.
    provides: Mapping[Role, str] = field(default_factory=dict)

    def role_answer(self, role: Role, answers: Mapping[str, Any]) -> Any:
        """The answer that fills `role` in these answers of the step (None when it fills
        none, or the answer is missing)."""
        name = self.provides.get(role)
        return answers.get(name) if name else None

    @property
    def any_packages(self) -> tuple[str, ...]:
        """Every package the step may install, whatever the answers: its own and each
        conditional set's (the facts watch them; a step that may bring one another step
        depends on makes that one outdated, and its plan then tells)."""
        names = [*self.packages]
        for conditional in self.conditional_packages:
            names += conditional.packages
        return tuple(dict.fromkeys(names))

    def question(self, name: str) -> Question:
        """The question called `name` (KeyError when the step has none)."""
        for question in self.questions:
            if question.name == name:
                return question
        raise KeyError(name)
