"""Typed, validated answers: every answer is checked here before a template or shell sees it."""

from __future__ import annotations

import ipaddress
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.errors import AnswerError
from wizard.steps import Question, Step

AnswerValue = str | int | bool | tuple[str, ...]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}$")
_PORT_SPEC = re.compile(r"^(\d{1,5})(?:/(tcp|udp))?$")
_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_RESERVED_USERS = frozenset({"root", "daemon", "bin", "sys", "sync", "nobody", "sshd", "www-data"})


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise AnswerError(f"expected text, got {type(raw).__name__}")
    if any(ch in raw for ch in "\n\r\x00"):
        raise AnswerError("must be a single line")
    return raw.strip()


def parse_hostname_label(raw: Any) -> str:
    """A single DNS label, such as a short host name."""
    value = _text(raw).lower()
    if not _LABEL.match(value):
        raise AnswerError(
            "a host name is letters, digits and hyphens (1 to 63), not starting or ending with '-'"
        )
    return value


def parse_fqdn(raw: Any) -> str:
    """A fully qualified domain name with at least two labels (host.example.org)."""
    value = _text(raw).lower().rstrip(".")
    labels = value.split(".")
    if len(labels) < 2 or len(value) > 253:
        raise AnswerError("must be a full name with a dot, like vps.example.org")
    for label in labels:
        if not _LABEL.match(label):
            raise AnswerError(
                f"'{label}' is not a valid label: use letters, digits and hyphens only"
            )
    if labels[-1].isdigit():
        raise AnswerError("the last label cannot be all digits")
    return value


def parse_fqdn_list(raw: Any) -> tuple[str, ...]:
    """Full names like 'ns6.gandi.net, ns2.example.org', each checked as an fqdn."""
    names = []
    for item in _items(raw):
        try:
            names.append(parse_fqdn(item))
        except AnswerError as error:
            raise AnswerError(f"'{item}': {error.message}") from None
    return tuple(dict.fromkeys(names))


def parse_username(raw: Any) -> str:
    """A Unix login name a Debian adduser accepts, not a system account."""
    value = _text(raw)
    if not _USERNAME.match(value):
        raise AnswerError(
            "a user name starts with a lower-case letter or '_' and has only a-z, 0-9, '_' "
            "and '-' (32 at most)"
        )
    if value in _RESERVED_USERS:
        raise AnswerError(f"'{value}' is a system account; choose a personal name")
    return value


def parse_ssh_pubkey(raw: Any) -> str:
    """One OpenSSH public key line: type, base64 blob, optional comment."""
    value = _text(raw)
    parts = value.split(None, 2)
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise AnswerError(
            "not an OpenSSH public key: expected a line like 'ssh-ed25519 AAAA... you@laptop'"
        )
    if not re.fullmatch(r"[A-Za-z0-9+/]+={0,3}", parts[1]):
        raise AnswerError("the key's base64 part is damaged")
    comment = parts[2] if len(parts) == 3 else ""
    if comment and not re.fullmatch(r"[\w@.+:-][\w@.+: -]*", comment):
        raise AnswerError("the key's comment may hold letters, digits, spaces and @ . + : - only")
    return " ".join(p for p in (parts[0], parts[1], comment) if p)


def parse_port(raw: Any) -> int:
    """A TCP/UDP port number, 1 to 65535."""
    if isinstance(raw, bool):
        raise AnswerError("expected a port number")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise AnswerError("expected a port number (1 to 65535)") from None
    if not 1 <= value <= 65535:
        raise AnswerError("a port is between 1 and 65535")
    return value


def _items(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [_text(item) for item in raw]
    return [item for item in re.split(r"[,\s]+", _text(raw)) if item]


def parse_port_list(raw: Any) -> tuple[str, ...]:
    """Ports like '80/tcp, 443' (tcp when the protocol is left out), normalized to 'N/proto'."""
    ports = []
    for item in _items(raw):
        match = _PORT_SPEC.match(str(item))
        if not match:
            raise AnswerError(f"'{item}' is not a port: write 8080 or 8080/tcp or 53/udp")
        number = parse_port(match.group(1))
        ports.append(f"{number}/{match.group(2) or 'tcp'}")
    return tuple(dict.fromkeys(ports))


def parse_ip(raw: Any) -> str:
    """An IPv4 or IPv6 address."""
    value = _text(raw)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise AnswerError(f"'{value}' is not an IPv4 or IPv6 address") from None


def parse_network_list(raw: Any) -> tuple[str, ...]:
    """Addresses or networks (CIDR), IPv4 or IPv6."""
    networks = []
    for item in _items(raw):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise AnswerError(
                f"'{item}' is not an address or a network like 192.0.2.0/24"
            ) from None
    return tuple(dict.fromkeys(networks))


def parse_timezone(raw: Any) -> str:
    """An IANA time zone name, such as Europe/Paris or UTC."""
    value = _text(raw)
    if value not in zoneinfo.available_timezones():
        raise AnswerError(f"'{value}' is not a time zone name; try Europe/Paris or UTC")
    return value


def parse_bool(raw: Any) -> bool:
    """Yes or no."""
    if isinstance(raw, bool):
        return raw
    value = _text(raw).lower()
    if value in ("y", "yes", "true", "1", "on"):
        return True
    if value in ("n", "no", "false", "0", "off"):
        return False
    raise AnswerError("answer yes or no")


def parse_email(raw: Any) -> str:
    """An e-mail address with a valid domain part."""
    value = _text(raw)
    local, sep, domain = value.rpartition("@")
    if not sep or not _EMAIL_LOCAL.match(local):
        raise AnswerError("expected an address like admin@example.org")
    return f"{local}@{parse_fqdn(domain)}"


_LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9_-]|\.(?!\.)){0,62}(?<![.])$")


def parse_local_part_list(raw: Any) -> tuple[str, ...]:
    """Mailbox names like 'contact, admin': the part before the @, in the step's own domain.

    Lower case letters, digits, '.', '_' and '-' only (no leading or trailing '.', no '..'):
    the name becomes a Maildir folder and a line of a passwd-file, and goes through a shell.
    """
    names = []
    for item in _items(raw):
        value = item.lower()
        if "@" in value:
            raise AnswerError(
                f"'{item}': give only the part before the @ (the domain is the mail domain's)"
            )
        if not _LOCAL_PART.match(value):
            raise AnswerError(
                f"'{item}' is not a mailbox name: use letters, digits, '.', '_' and '-' "
                "(64 at most), starting with a letter or digit"
            )
        names.append(value)
    return tuple(dict.fromkeys(names))


def parse_secret(raw: Any) -> str:
    """A password: one line, at least 12 characters. Never stored or logged."""
    value = raw if isinstance(raw, str) else ""
    if any(ch in value for ch in "\n\r\x00"):
        raise AnswerError("must be a single line")
    if value and len(value) < 12:
        raise AnswerError("use at least 12 characters")
    return value


_URL = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~/%+-]*)?$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")


def parse_url(raw: Any) -> str:
    """An https:// URL made only of characters that need no shell quoting (an ACME directory)."""
    value = _text(raw)
    if not _URL.match(value):
        raise AnswerError("expected an https:// address like https://acme.example.org/directory")
    return value


def parse_path(raw: Any) -> str:
    """An absolute file path on the server, with no character a shell would interpret."""
    value = _text(raw)
    if not _PATH.match(value) or "/../" in f"{value}/":
        raise AnswerError("expected an absolute path like /etc/ssl/private/site.pem")
    return value


PARSERS: Mapping[str, Callable[[Any], AnswerValue]] = {
    "hostname": parse_hostname_label,
    "fqdn": parse_fqdn,
    "domain": parse_fqdn,
    "fqdn_list": parse_fqdn_list,
    "username": parse_username,
    "ssh_pubkey": parse_ssh_pubkey,
    "port": parse_port,
    "port_list": parse_port_list,
    "ip": parse_ip,
    "network_list": parse_network_list,
    "timezone": parse_timezone,
    "bool": parse_bool,
    "email": parse_email,
    "local_part_list": parse_local_part_list,
    "secret": parse_secret,
    "url": parse_url,
    "path": parse_path,
}


def parse_answer(question: Question, raw: Any) -> AnswerValue:
    """Check one raw answer against its question; AnswerError says why it is refused."""
    if question.type == "choice":
        value = _text(raw)
        if value not in question.choices:
            raise AnswerError(f"choose one of: {', '.join(question.choices)}")
        return value
    parser = PARSERS.get(question.type)
    if parser is None:
        raise AnswerError(f"the step defines an unknown question type '{question.type}'")
    if raw in ("", None, ()) and not question.required:
        return () if question.type.endswith("_list") else ""
    if raw in ("", None) and question.type != "secret":
        raise AnswerError("an answer is needed")
    return parser(raw)


@dataclass(frozen=True)
class Answers:
    """The validated answers of one step, by question name."""

    step_id: str
    values: Mapping[str, AnswerValue]
    secrets: frozenset[str] = frozenset()

    def public(self) -> dict[str, AnswerValue]:
        """The answers that may be stored or shown: secrets left out."""
        return {k: v for k, v in self.values.items() if k not in self.secrets}

    def secret_values(self) -> tuple[str, ...]:
        """The secret answers' texts, to be masked wherever output is shown."""
        return tuple(str(self.values[k]) for k in self.secrets if self.values.get(k))


def validate_answers(step: Step, raw: Mapping[str, Any]) -> Answers:
    """Validate a whole step's raw answers; unknown names and bad values raise AnswerError."""
    known = {q.name for q in step.questions}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise AnswerError(
            f"step {step.id} has no question {', '.join(unknown)}",
            f"its questions are: {', '.join(sorted(known))}",
        )
    values: dict[str, AnswerValue] = {}
    for question in step.questions:
        if question.name not in raw:
            raise AnswerError(f"{step.id}: no answer for '{question.name}'")
        try:
            values[question.name] = parse_answer(question, raw[question.name])
        except AnswerError as error:
            raise AnswerError(f"{step.id}.{question.name}: {error.message}", error.hint) from None
    secrets = frozenset(q.name for q in step.questions if q.secret)
    return Answers(step.id, values, secrets)


def load_answers_file(path: Path) -> dict[str, dict[str, Any]]:
    """Read an answers file: TOML, one table per step id."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AnswerError(f"answers file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise AnswerError(f"answers file {path} is not valid TOML: {error}") from None
    for key, table in data.items():
        if not isinstance(table, dict):
            raise AnswerError(f"answers file {path}: '{key}' must be a table like [{key}]")
    return data
