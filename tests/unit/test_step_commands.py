"""Every shipped step's commands, guards and validate lines, rendered with hostile answers.

The answer sets below are what a user could give (each goes through validate_answers) and
together take every `when` branch: nginx and Apache, a certificate from ACME, self-signed or
existing, optional answers given and left empty. Free-text answers whose type lets shell
characters through hold quotes, backquotes, `$` and `&`. Every value must reach its command as
one literal word:

* each line renders (a value inside quotes would be refused) and passes `sh -n`;
* run in a sandbox, no payload runs and the literal value is in the argv of a command.

The sandbox is a chroot holding bash and nothing else, entered as nobody without network: every
command of a line only records its argv (bash's command_not_found_handle, and functions in
place of echo, printf, test and eval), so a quote that let go would show up as a command the
template never named. Nothing a line does can reach the machine running the tests.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wizard.answers import AnswerError, parse_answer, validate_answers
from wizard.catalog import load_catalog
from wizard.deletedlibs import DeletedMap
from wizard.errors import WizardError
from wizard.facts import Facts
from wizard.netfacts import Network
from wizard.plan import VALIDATE_PLACEHOLDERS, render_step
from wizard.render import SHELL_TEMPLATE_SUFFIX, render_shell
from wizard.roles import site_domain
from wizard.shell import quote
from wizard.steps import Command, FileSpec, Step
from wizard.validators import validator

CATALOG = load_catalog()
KEY_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
# The payload: a command that must never run. Every hostile value calls it if a quote breaks.
PAYLOAD = "vwpwned"
RUN_ID = "20260101T000000-vwrun"

# Per question type, the most hostile value first: the first one the type accepts is used, so
# a type that gets stricter keeps the test meaningful with the hostile values it still allows.
HOSTILE_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "email": (
        f"o'brien`{PAYLOAD}`$HOME&x@example.org",
        f"o'brien$({PAYLOAD})@example.org",
        "o'brien@example.org",
    ),
    "secret": (f"pa'ss w\"o`{PAYLOAD}` $({PAYLOAD}); {PAYLOAD} | & ${{IFS}}",),
    "ssh_pubkey": (
        f"ssh-ed25519 {KEY_BLOB} o'k `{PAYLOAD}` $HOME",
        f"ssh-ed25519 {KEY_BLOB} alice laptop: 2026 @home",
    ),
}

# ----------------------------------------------------------------------------- answer sets

FULL: dict[str, dict[str, Any]] = {
    "base": {
        "fqdn": "vps.example.org",
        "timezone": "Etc/GMT+5",
        "locale": "en_US.UTF-8",
        "upgrade": True,
        "auto_reboot": False,
    },
    "admin-user": {"username": "alice", "public_key": "", "sudo_nopasswd": True},
    "ssh-hardening": {"port": 2222, "allow_x11": True, "allow_tcp_forwarding": True},
    "firewall": {
        "extra_ports": "8080/tcp, 51820/udp",
        "blocked": "203.0.113.7, 2001:db8:bad::/48",
        "allow_ping": True,
    },
    "fail2ban": {"ignore": "198.51.100.0/24, 2001:db8:1::/64", "bantime": "1h", "maxretry": "5"},
    "kernel-hardening": {"bbr": True, "tcp_buffers": "16MiB"},
    "entropy": {"haveged": True},
    "ipv6": {
        "manager": "systemd-networkd",
        "interface": "eth0",
        "address": "2001:db8:1234::2",
        "prefix_length": 64,
        "gateway": "fe80::1",
    },
    "web": {"server": "nginx", "php_version": "8.2", "memory_limit": "256M", "upload_max": "32M"},
    "database": {"buffer_pool": "256M"},
    "vhost": {
        "domain": "example.org",
        "canonical": "www",
        "owner": "_site-owner",
        "trusted_proxies": "10.0.0.0/8, 2001:db8:2::/64",
        "csp": "default-src 'self'; img-src 'self' data: https://cdn.example.org",
    },
    "tls": {
        "source": "acme",
        "acme_server": "https://acme.example.org:14000/dir",
        "email": "",
        "acme_ca_bundle": "/etc/ssl/private/test-ca+1.pem",
        "ca_file": "/etc/ssl/private/test-ca+1.pem",
        "cert_file": "",
        "key_file": "",
        "compress_https": True,
    },
    "hsts": {"max_age": "63072000", "preload": True},
    "waf": {"mode": "blocking", "paranoia": 2, "threshold": 10, "exclusions": "942100, 920350"},
    "dns-zone": {
        "domain": "example.org",
        "ipv4": "192.0.2.1",
        "ipv6": "2001:db8::1",
        "ns_name": "ns1.example.org",
        "secondaries": "ns6.gandi.net",
        "transfer_to": "217.70.177.40",
        "mail_host": "mail.example.org",
        "caa_issuer": "letsencrypt.org",
        "parent_resolver": "192.0.2.53",
    },
    "dnssec": {"zsk_lifetime_days": "90", "signature_days": "14"},
    "mail": {
        "domain": "example.org",
        "hostname": "mail.example.org",
        "mailboxes": "contact, first.last, a-b_c",
        "password": "",
        "size_limit_mb": "25",
        "cert_source": "existing",
        "cert_file": "/etc/ssl/mail/fullchain+1.pem",
        "key_file": "/etc/ssl/mail/privkey+1.pem",
    },
    "mail-auth": {
        "selector": "mail2026",
        "spf_include": "spf.protection.outlook.com",
        "spf_all": "-all",
        "dmarc_policy": "quarantine",
        "dmarc_reports": "",
    },
    "dane": {"ttl": "300"},
    "backups": {
        "target_host": "backup.example.net",
        "target_port": 2222,
        "target_user": "vpsbackup",
        "target_path": "/srv/backups/vps",
        "target_host_key": f"ssh-ed25519 {KEY_BLOB} root@backup",
        "paths": "/etc, /root, /var/www",
        "time": "03:30",
        "keep_daily": 7,
        "keep_weekly": 4,
        "keep_monthly": 12,
        "pull": True,
        "pull_key": f"ssh-ed25519 {KEY_BLOB} root@backup",
        "pull_from": "2001:db8::5",
    },
    "wordpress": {
        "db_name": "wp_site",
        "db_user": "wp_user",
        "table_prefix": "wp_",
        "xmlrpc": "blocked",
    },
    "maintenance": {
        "restart": True,
        "disk_max": 90,
        "inodes_max": 85,
        "web_permissions": True,
        "images": True,
    },
}


def _variant(changes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {sid: {**raw, **changes.get(sid, {})} for sid, raw in FULL.items()}


_NO_OPTIONALS = {
    "firewall": {"extra_ports": "", "blocked": "", "allow_ping": False},
    "fail2ban": {"ignore": ""},
    "vhost": {"canonical": "bare", "owner": "alice", "trusted_proxies": "", "csp": ""},
    "waf": {"exclusions": ""},
    "dns-zone": {
        "ipv6": "",
        "secondaries": "",
        "transfer_to": "",
        "mail_host": "",
        "caa_issuer": "",
        "parent_resolver": "",
    },
    "mail-auth": {"spf_include": "", "dmarc_reports": ""},
    "backups": {
        "target_host": "2001:db8::5",
        "target_port": 22,
        "keep_weekly": 0,
        "keep_monthly": 0,
        "pull": False,
    },
}

ANSWER_SETS: Mapping[str, dict[str, dict[str, Any]]] = {
    # nginx, ACME with a private CA, every optional answer given, hostile free text.
    "nginx-acme-full": _variant({}),
    # Apache, self-signed, nothing optional, no upgrade, the mail certificate self-signed.
    "apache-self-signed-bare": _variant(
        {
            **_NO_OPTIONALS,
            "base": {"timezone": "UTC", "locale": "C.UTF-8", "upgrade": False, "auto_reboot": True},
            "ssh-hardening": {"port": 22, "allow_x11": False, "allow_tcp_forwarding": False},
            "kernel-hardening": {"bbr": False, "tcp_buffers": "kernel"},
            "entropy": {"haveged": False},
            "ipv6": {"manager": "netplan", "interface": "ens3", "prefix_length": 128},
            "web": {"server": "apache"},
            "tls": {
                "source": "self-signed",
                "acme_ca_bundle": "",
                "ca_file": "",
                "compress_https": False,
            },
            "hsts": {"preload": False},
            "wordpress": {"xmlrpc": "open"},
            "maintenance": {"restart": False, "web_permissions": False, "images": False},
            "mail": {
                "mailboxes": "postmaster",
                "cert_source": "self-signed",
                "cert_file": "",
                "key_file": "",
            },
        }
    ),
    # nginx with a certificate of the user's, the mail certificate self-signed.
    "nginx-existing": _variant(
        {
            "tls": {
                "source": "existing",
                "acme_ca_bundle": "",
                "cert_file": "/etc/ssl/site/fullchain+1.pem",
                "key_file": "/etc/ssl/site/privkey+1.pem",
            },
            "mail": {"cert_source": "self-signed", "cert_file": "", "key_file": ""},
        }
    ),
    # Apache, ACME from the public CA without an e-mail address.
    "apache-acme-plain": _variant(
        {
            **_NO_OPTIONALS,
            "web": {"server": "apache", "php_version": "8.4"},
            "ipv6": {"manager": "ifupdown", "gateway": "2001:db8:1234::1"},
            "tls": {"acme_ca_bundle": "", "ca_file": ""},
        }
    ),
}
# The free-text answers that get a hostile value (of HOSTILE_BY_TYPE) in each set.
HOSTILE_ANSWERS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "nginx-acme-full": (
        ("tls", "email"),
        ("mail", "password"),
        ("mail-auth", "dmarc_reports"),
        ("admin-user", "public_key"),
        ("backups", "target_host_key"),
        ("backups", "pull_key"),
    ),
    "apache-self-signed-bare": (("admin-user", "public_key"),),
    "nginx-existing": (("tls", "email"), ("mail", "password"), ("admin-user", "public_key")),
    "apache-acme-plain": (("admin-user", "public_key"),),
}
PLAIN_KEY = f"ssh-ed25519 {KEY_BLOB} alice@laptop"

FACTS = Facts(
    os_id="debian",
    os_version="12",
    os_pretty="Debian GNU/Linux 12 (bookworm)",
    os_family="debian",
    kernel="6.1.0-28-amd64",
    hostname="vps",
    fqdn="vps.example.org",
    timezone="Etc/UTC",
    ipv4=("192.0.2.1",),
    ipv6=("2001:db8::1",),
    client_address="198.51.100.7",
    ssh_port=22,
    login_user="root",
    packages=frozenset({"openssh-server", "postfix", "bind9"}),
    network=Network("eth0", "systemd-networkd", "/etc/systemd/network/10-eth0.network"),
    # PHP-FPM on a deleted libssl: the maintenance step's restart command has a unit to name.
    deleted_maps=(
        DeletedMap(812, "php8.2-fpm.service", "/usr/lib/x86_64-linux-gnu/libssl.so.3", "php"),
    ),
)
OPEN_PORTS = ("22/tcp", "80/tcp", "443/tcp", "53/tcp", "53/udp", "25/tcp", "587/tcp", "993/tcp")


def hostile_value(step: Step, name: str) -> str:
    """The most hostile value of HOSTILE_BY_TYPE the question's type accepts."""
    question = step.question(name)
    for candidate in HOSTILE_BY_TYPE[question.type]:
        try:
            parse_answer(question, candidate)
        except AnswerError:
            continue
        return candidate
    raise AssertionError(f"{step.id}.{name}: the type {question.type} accepts no test value")


@dataclass(frozen=True)
class AnswerSet:
    """One set of validated answers for every shipped step, and its hostile values."""

    name: str
    answers: Mapping[str, Mapping[str, Any]]
    public: Mapping[str, Mapping[str, Any]]
    hostile: tuple[str, ...]

    def context(self, step: Step) -> dict[str, Any]:
        """What Session.context gives a step: the other steps' public answers, its own all."""
        steps: dict[str, dict[str, Any]] = {
            sid: dict(values) for sid, values in self.public.items()
        }
        steps[step.id] = dict(self.answers[step.id])
        return {
            "answers": dict(self.answers[step.id]),
            "facts": FACTS.as_template_context(),
            "steps": steps,
            "local": {"ssh_pubkey": PLAIN_KEY},
            "open_ports": OPEN_PORTS,
            "site_domain": site_domain(CATALOG, steps),
        }


@functools.cache
def answer_set(name: str) -> AnswerSet:
    """The named set of ANSWER_SETS with its hostile values, validated like a user's."""
    raw = {sid: dict(values) for sid, values in ANSWER_SETS[name].items()}
    raw["admin-user"]["public_key"] = PLAIN_KEY
    hostile = []
    for sid, question in HOSTILE_ANSWERS[name]:
        value = hostile_value(CATALOG.get(sid), question)
        raw[sid][question] = value
        hostile.append(value)
    answers, public = {}, {}
    for step in CATALOG.steps:
        validated = validate_answers(step, raw[step.id])
        answers[step.id] = dict(validated.values)
        public[step.id] = validated.public()
    return AnswerSet(name, answers, public, tuple(hostile))


# ----------------------------------------------------------------------------- rendered lines


@dataclass(frozen=True)
class Line:
    """One rendered command, guard or validate line, with the text it came from."""

    step: str
    kind: str  # run, unless or validate
    source: str
    rendered: str

    def __str__(self) -> str:
        return f"{self.step} {self.kind}: {self.source}"


@dataclass(frozen=True)
class Rendered:
    """A set's steps rendered: their lines, shell templates, and what `when` kept or left out."""

    lines: tuple[Line, ...]
    scripts: Mapping[str, str]  # "<step>/<template>" -> rendered text
    kept: frozenset[tuple[str, object]]


@functools.cache
def rendered(name: str) -> Rendered:
    """Every shipped step rendered with the named answer set."""
    answers = answer_set(name)
    lines: list[Line] = []
    scripts: dict[str, str] = {}
    kept: set[tuple[str, object]] = set()
    for step in CATALOG.steps:
        desired = render_step(step, answers.context(step))
        for command in desired.commands:
            kept.add((step.id, command.command))
            lines.append(Line(step.id, "run", command.command.run, str(command.run)))
            if command.unless is not None:
                assert command.command.unless is not None
                lines.append(Line(step.id, "unless", command.command.unless, str(command.unless)))
        for file in desired.files:
            kept.add((step.id, (file.spec.template, file.spec.dest)))
            if file.validate is not None:
                # A named validator's source is its script (wizard/validate/NAME.sh.j2).
                named = file.spec.validate_with
                source = validator(named.name).body() if named else file.spec.validate
                assert source is not None
                lines.append(Line(step.id, "validate", source, str(file.validate)))
            if file.spec.template.endswith(SHELL_TEMPLATE_SUFFIX):
                scripts[f"{step.id}/{file.spec.template}"] = file.content.decode()
    return Rendered(tuple(lines), scripts, frozenset(kept))


def conditional_parts() -> Iterator[tuple[str, object, str]]:
    for step in CATALOG.steps:
        for command in step.commands:
            if command.when:
                yield step.id, command, command.when
        for spec in step.files:
            if spec.when:
                yield step.id, (spec.template, spec.dest), spec.when


def test_the_answer_sets_take_every_when_branch():
    for step_id, part, when in conditional_parts():
        taken = [name for name in ANSWER_SETS if (step_id, part) in rendered(name).kept]
        assert taken, f"{step_id}: no answer set makes `{when}` true"
        assert len(taken) < len(ANSWER_SETS), f"{step_id}: every answer set makes `{when}` true"


def test_the_hostile_values_are_valid_answers_that_need_quoting():
    full = answer_set("nginx-acme-full")
    assert full.answers["tls"]["email"] in full.hostile
    for value in full.hostile:
        assert quote(value) != value, f"{value!r} needs no quoting: not a hostile value"


def _sh_syntax_error(text: str) -> str:
    result = subprocess.run(
        ["sh", "-n", "-c", text], capture_output=True, text=True, timeout=10, check=False
    )
    return "" if result.returncode == 0 else result.stderr.strip()


@pytest.mark.parametrize("name", list(ANSWER_SETS))
def test_every_line_and_shell_template_is_valid_shell(name):
    for line in rendered(name).lines:
        error = _sh_syntax_error(line.rendered)
        assert not error, f"{line}\nrendered: {line.rendered}\nsh -n: {error}"
    assert rendered(name).scripts, "no *.sh.j2 template rendered"
    for template, text in rendered(name).scripts.items():
        error = _sh_syntax_error(text)
        assert not error, f"{template}: sh -n: {error}"


@pytest.mark.parametrize("name", list(ANSWER_SETS))
def test_a_hostile_value_is_one_intact_word_of_its_line(name):
    answers = answer_set(name)
    for line in rendered(name).lines:
        for value in answers.hostile:
            if quote(value) not in line.rendered:
                continue
            words = shlex.split(line.rendered)
            assert any(value in word for word in words), f"{line}: {value!r} was split: {words}"


def test_the_tls_email_is_one_word_of_the_certbot_command():
    full = rendered("nginx-acme-full")
    email = answer_set("nginx-acme-full").answers["tls"]["email"]
    (certbot,) = [
        line for line in full.lines if line.kind == "run" and "certbot certonly" in line.source
    ]
    words = shlex.split(certbot.rendered)
    assert words[words.index("--email") + 1] == email


def test_a_secret_answer_is_in_no_command_line():
    # Commands are shown in the review and logged in the journal: a password goes in a file.
    checked = 0
    for name in ANSWER_SETS:
        answers = answer_set(name)
        for step in CATALOG.steps:
            for question in step.questions:
                secret = answers.answers[step.id][question.name] if question.secret else ""
                if not secret:
                    continue
                checked += 1
                for line in rendered(name).lines:
                    assert secret not in line.rendered, f"{line}: holds {step.id}.{question.name}"
                    assert quote(secret) not in line.rendered, f"{line}: holds {question.name}"
    assert checked, "no answer set gives a secret"


def _placeholders_in_single_quotes(step: Step, line: str, context: dict[str, Any]) -> list[str]:
    """The `{new}`, `{copy}`, `{run}` of a validate line that stand inside '...'.

    Each one in turn is rendered as a value (which is refused wherever quoting does not hold);
    inside single quotes the apply's shell variable would never expand.
    """
    found = []
    for match in re.finditer(r"\{(?:new|copy|run)\}", line):
        probe = line[: match.start()] + "{{ placeholder_probe }}" + line[match.end() :]
        for placeholder, variable in VALIDATE_PLACEHOLDERS.items():
            probe = probe.replace(placeholder, variable)
        try:
            render_shell(step, probe, {**context, "placeholder_probe": "x"})
        except WizardError as error:
            if "single quotes" in error.message:
                found.append(f"{match.group()} at {match.start()}")
    return found


def test_no_validate_placeholder_stands_inside_single_quotes():
    answers = answer_set("nginx-acme-full")
    for step in CATALOG.steps:
        for spec in step.files:
            if spec.validate:
                quoted = _placeholders_in_single_quotes(step, spec.validate, answers.context(step))
                assert not quoted, f"{step.id} {spec.dest}: {quoted} in: {spec.validate}"


# ----------------------------------------------------------------------------- the sandbox


class SandboxUnavailable(Exception):
    """This machine cannot make the chroot (no user namespaces for a non-root user)."""


@dataclass(frozen=True)
class Sandbox:
    """A chroot holding bash alone; lines run there as nobody (or a mapped user), no network."""

    root: Path
    bash: str

    @classmethod
    def build(cls, root: Path) -> Sandbox:
        bash = shutil.which("bash")
        if bash is None or shutil.which("unshare") is None or shutil.which("chroot") is None:
            raise SandboxUnavailable("bash, unshare and chroot are needed")
        bash = os.path.realpath(bash)
        root.mkdir(parents=True)
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            host = Path("/") / top
            if host.is_symlink():
                target = os.readlink(host)
                (root / top).symlink_to(target)
                (root / top).parent.joinpath(target).mkdir(parents=True, exist_ok=True)
        for path in (bash, *_libraries(bash)):
            dest = root / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(path), dest)
        for folder in ("vw/lines", "vw/calls", "vw/work", "dev", "tmp"):
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder).chmod(0o1777)
        (root / "dev/null").touch(mode=0o666)
        (root / "dev/null").chmod(0o666)
        return cls(root, bash)

    def command(self) -> list[str]:
        isolate = ["unshare", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
        if os.geteuid() == 0:
            return [*isolate, "chroot", "--userspec=65534:65534", str(self.root)]
        return [*isolate[:1], "--user", "--map-root-user", *isolate[1:], "chroot", str(self.root)]

    def run(self, lines: list[str]) -> list[list[tuple[str, ...]]]:
        """Run each line in its own bash; the argv of every command each one ran."""
        for index, line in enumerate(lines):
            self._make_directories(line)
            self._stub_absolute_commands(line)
            script = self.root / f"vw/lines/{index:04d}.sh"
            script.write_text(_prelude(index) + line + "\n")
            script.chmod(0o644)
        runner = self.root / "vw/run.sh"
        runner.write_text(
            ": > /vw/calls/started\n"
            "for f in /vw/lines/*.sh; do\n"
            f'  {self.bash} --norc --noprofile "$f" </dev/null >/dev/null 2>"${{f%.sh}}.err"\n'
            "done\n"
        )
        try:
            result = subprocess.run(
                [*self.command(), self.bash, "--norc", "--noprofile", "/vw/run.sh"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            started = [
                i for i in range(len(lines)) if (self.root / f"vw/lines/{i:04d}.err").exists()
            ]
            raise AssertionError(f"a line never ended: {lines[max(started, default=0)]}") from None
        if not (self.root / "vw/calls/started").exists():
            raise SandboxUnavailable(result.stderr.strip() or f"exit {result.returncode}")
        return [self._calls(index) for index in range(len(lines))]

    def _calls(self, index: int) -> list[tuple[str, ...]]:
        log = self.root / f"vw/calls/{index:04d}"
        if not log.exists():
            return []
        records = log.read_text().split(RECORD_END)
        return [tuple(record.split(ARG_END)[:-1]) for record in records if record]

    def _make_directories(self, line: str) -> None:
        # Redirections to absolute paths work in the chroot, so the command behind them runs.
        for path in re.findall(r"(?<![\w.$}-])/[\w.+@-]+(?:/[\w.+@-]+)*", line):
            parent = Path(os.path.normpath(self.root / path.lstrip("/"))).parent
            if parent.is_relative_to(self.root) and not parent.exists():
                parent.mkdir(parents=True, mode=0o777)
                for folder in [parent, *parent.parents]:
                    if folder == self.root:
                        break
                    folder.chmod(0o1777)

    def _stub_absolute_commands(self, line: str) -> None:
        # A command named by its path (/usr/local/sbin/vps-wizard-zone) records its argv too.
        for path in re.findall(
            r"(?:^|[;&|!(]|\bthen|\bdo|\belse)\s*(?:\w+=\S*\s+)*(/[\w./+-]+)", line
        ):
            stub = Path(os.path.normpath(self.root / path.lstrip("/")))
            if not stub.is_relative_to(self.root) or stub.exists():
                continue
            stub.parent.mkdir(parents=True, exist_ok=True)
            record = _record(log='"$VW_CALLS"', argv='"$0" "$@"')
            stub.write_text(f"#!{self.bash}\n{record}\n")
            stub.chmod(0o755)


def _libraries(binary: str) -> list[str]:
    output = subprocess.run(
        ["ldd", binary], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return re.findall(r"(/\S+) \(0x", output)


# One call, one write (O_APPEND keeps it whole while a pipeline's commands record together):
# each argument ends with ARG_END, the call with RECORD_END. Answers hold no control character.
ARG_END, RECORD_END = "\x1f", "\x1e"


def _record(log: str, argv: str = '"$@"') -> str:
    """Bash that appends the argv to the log, in one write."""
    return (
        f"builtin printf -v __vw_call '%s\\037' {argv}; "
        f"builtin printf '%s\\036' \"$__vw_call\" >> {log}"
    )


def _prelude(index: int) -> str:
    """Every command records its argv instead of running; the apply's validate variables."""
    log = f"/vw/calls/{index:04d}"
    return (
        f"export VW_CALLS={log}\n"
        f"__vw_record() {{ {_record(log)}; }}\n"
        'command_not_found_handle() { __vw_record "$@"; return 0; }\n'
        + "".join(
            f'{name}() {{ __vw_record {name} "$@"; return 0; }}\n'
            for name in ("echo", "printf", "test", "[", "eval", "kill", "source", "exec")
        )
        + "cd /vw/work || exit 99\n"
        + f"new=/vw/work/staged.vw-new.{RUN_ID}; copy=/vw/work/copy; run={RUN_ID}\n"
    )


def _names_command(source: str, name: str) -> bool:
    return re.search(rf"(?<![\w./-]){re.escape(name)}(?![\w./-])", source) is not None


@pytest.mark.parametrize("name", list(ANSWER_SETS))
def test_lines_run_in_a_sandbox_run_no_payload_and_get_the_literal_values(name, tmp_path):
    answers = answer_set(name)
    lines = rendered(name).lines
    try:
        calls = Sandbox.build(tmp_path / "root").run([line.rendered for line in lines])
    except SandboxUnavailable as reason:
        pytest.skip(f"no sandbox on this machine: {reason}")
    reached: set[str] = set()
    for line, line_calls in zip(lines, calls, strict=True):
        for argv in line_calls:
            assert PAYLOAD not in argv[0], f"{line}: the payload ran: {argv}"
            assert _names_command(line.source, argv[0]), (
                f"{line}\nran a command its template does not name: {argv}"
            )
            for word in argv:
                assert not re.search(r"\$(new|copy|run)\b|\{(new|copy|run)\}", word), (
                    f"{line}: a validate placeholder never expanded: {argv}"
                )
        for value in answers.hostile:
            if quote(value) in line.rendered:
                assert any(value in word for argv in line_calls for word in argv), (
                    f"{line}: {value!r} reached no command intact: {line_calls}"
                )
                reached.add(value)
    if name == "nginx-acme-full":
        assert answers.answers["tls"]["email"] in reached, "the e-mail reached no certbot"


def test_the_run_id_reaches_the_staged_file_names_of_validate_lines(tmp_path):
    lines = [
        line
        for line in rendered("apache-self-signed-bare").lines
        if "{run}" in line.source or "$run" in line.source
    ]
    assert lines, "no validate line uses {run}"
    try:
        calls = Sandbox.build(tmp_path / "root").run([line.rendered for line in lines])
    except SandboxUnavailable as reason:
        pytest.skip(f"no sandbox on this machine: {reason}")
    for line, line_calls in zip(lines, calls, strict=True):
        assert any(RUN_ID in word for argv in line_calls for word in argv), (
            f"{line}: the run id reached no command: {line_calls}"
        )


# ----------------------------------------------------------------------------- author mistakes


def _step_with(tmp_path: Path, **parts: Any) -> Step:
    (tmp_path / "hook.sh.j2").write_text('#!/bin/sh\nprintf "%s\\n" "{{ answers.name }}"\n')
    (tmp_path / "plain.conf.j2").write_text("name = {{ answers.name }}\n")
    return Step(id="mistake", title="t", help="h", source_dir=str(tmp_path), **parts)


@pytest.mark.parametrize(
    ("parts", "shown"),
    [
        ({"commands": (Command(run="echo 'hello {{ answers.name }}'"),)}, "echo 'hello"),
        (
            {"commands": (Command(run="true", unless='[ "$(id -un)" = "{{ answers.name }}" ]'),)},
            '[ "$(id -un)" = "{{ answers.name }}" ]',
        ),
        (
            {
                "files": (
                    FileSpec(
                        template="plain.conf.j2",
                        dest="/x",
                        validate="grep -q '{{ answers.name }}' {new}",
                    ),
                )
            },
            "grep -q '{{ answers.name }}'",
        ),
        ({"files": (FileSpec(template="hook.sh.j2", dest="/x"),)}, "hook.sh.j2"),
    ],
    ids=["run in single quotes", "unless in double quotes", "validate", "shell template"],
)
def test_a_value_inside_quotes_is_refused_naming_the_step_and_the_line(tmp_path, parts, shown):
    step = _step_with(tmp_path, **parts)
    with pytest.raises(WizardError) as refused:
        render_step(step, {"answers": {"name": "alice"}})
    assert "step mistake" in refused.value.message
    assert shown in refused.value.message
    assert "outside quotes" in refused.value.message
