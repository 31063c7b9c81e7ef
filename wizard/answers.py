"""Typed, validated answers: every answer is checked here before a template or shell sees it."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import unicodedata
import urllib.parse
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from wizard.errors import AnswerError
from wizard.steps import Question, Step

# A list answer is a tuple of its items; a table answer a tuple of rows, each a dict of cells.
AnswerValue = str | int | bool | tuple[Any, ...]

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}")
_PORT_SPEC = re.compile(r"([0-9]{1,5})(?:/(tcp|udp))?")


@dataclass(frozen=True)
class _KeyLayout:
    """What an SSH key blob holds after its type name (RFC 4253, 5656, 8709; OpenSSH's
    PROTOCOL.u2f): how many fields, the curve an ECDSA key names first, an Ed25519 key's size."""

    fields: int
    curve: bytes = b""
    key_length: int = 0


# The key types OpenSSH accepts in authorized_keys.
_KEY_TYPES = {
    "ssh-ed25519": _KeyLayout(1, key_length=32),
    "ssh-rsa": _KeyLayout(2),
    "ecdsa-sha2-nistp256": _KeyLayout(2, curve=b"nistp256"),
    "ecdsa-sha2-nistp384": _KeyLayout(2, curve=b"nistp384"),
    "ecdsa-sha2-nistp521": _KeyLayout(2, curve=b"nistp521"),
    "sk-ssh-ed25519@openssh.com": _KeyLayout(2, key_length=32),
    "sk-ecdsa-sha2-nistp256@openssh.com": _KeyLayout(3, curve=b"nistp256"),
}
_RESERVED_USERS = frozenset({"root", "daemon", "bin", "sys", "sync", "nobody", "sshd", "www-data"})


# Characters no answer may hold: they end a line in some reader (a config file, a log, the
# server's own parsers), or change what a terminal shows (escape sequences, bidi overrides).
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _kind(raw: Any) -> str:
    """What a raw value is, in the words of an answers file."""
    kinds = {bool: "true/false", int: "a number", float: "a decimal number", list: "a list"}
    return kinds.get(type(raw), "a table" if isinstance(raw, dict) else type(raw).__name__)


def _refuse_control_characters(value: str) -> None:
    for ch in value:
        if ch in _LINE_BREAKS:
            raise AnswerError("must be a single line")
        if unicodedata.category(ch) in _INVISIBLE:
            name = unicodedata.name(ch, "a control character")
            raise AnswerError(
                f"holds an invisible character (U+{ord(ch):04X}, {name.lower()}): "
                "retype the answer as plain text"
            )


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise AnswerError(f"expected text (in quotes in an answers file), got {_kind(raw)}")
    _refuse_control_characters(raw)
    return raw.strip()


def parse_hostname_label(raw: Any) -> str:
    """A single DNS label, such as a short host name."""
    value = _ascii_name(_text(raw))
    if not _LABEL.fullmatch(value):
        raise AnswerError(
            "a host name is letters, digits and hyphens (1 to 63), not starting or ending with '-'"
        )
    return value


def _ascii_name(value: str) -> str:
    """A DNS name in lower case; an international name must come in its xn-- form, which is
    what the zone and the certificates hold."""
    if not value.isascii():
        raise AnswerError(
            "use letters a-z, digits and hyphens only: write an international name in its "
            "xn-- form (idn2 or an online converter gives it)"
        )
    return value.lower()


def _url_host(value: str) -> str | None:
    """The host of a pasted URL (https://example.net/page, example.net/page), lower case;
    None when the text is no URL."""
    if "://" not in value and "/" not in value:
        return None
    try:
        host = urllib.parse.urlsplit(value if "://" in value else f"//{value}").hostname
    except ValueError:
        host = None
    return host or ""


def _refuse_url(value: str, drop_www: bool = False) -> None:
    host = _url_host(value)
    if host is None:
        return
    if drop_www and host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    shown = host if host and host.isascii() else "like example.net"
    raise AnswerError(f"a domain, not a URL: {shown}")


def parse_fqdn(raw: Any) -> str:
    """A fully qualified domain name with at least two labels (host.example.org)."""
    text = _text(raw)
    _refuse_url(text)
    value = _ascii_name(text).rstrip(".")
    labels = value.split(".")
    if len(labels) < 2 or len(value) > 253:
        raise AnswerError("must be a full name with a dot, like vps.example.org")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise AnswerError(
                f"'{label}' is not a valid label: use letters, digits and hyphens only"
            )
    if labels[-1].isdigit():
        raise AnswerError("the last label cannot be all digits")
    return value


def parse_bare_domain(raw: Any) -> str:
    """A site's domain without www (example.net): the canonical question chooses between
    example.net and www.example.net, so www here would make www.www.example.net."""
    text = _text(raw)
    _refuse_url(text, drop_www=True)
    value = parse_fqdn(text)
    if value.startswith("www.") and value.count(".") >= 2:
        raise AnswerError(f"give {value[4:]}; the canonical question chooses www")
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
    if not _USERNAME.fullmatch(value):
        raise AnswerError(
            "a user name starts with a lower-case letter or '_' and has only a-z, 0-9, '_' "
            "and '-' (32 at most)"
        )
    if value in _RESERVED_USERS:
        raise AnswerError(f"'{value}' is a system account; choose a personal name")
    return value


def parse_ssh_pubkey(raw: Any) -> str:
    """One OpenSSH public key line: type, base64 blob, optional comment.

    The blob is decoded and must hold a key of the declared type: a damaged paste, or a line
    whose type and data disagree, would leave the admin without a key that logs in.
    """
    value = _text(raw)
    parts = value.split(None, 2)
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise AnswerError(
            "not an OpenSSH public key: expected a line like 'ssh-ed25519 AAAA... you@laptop'"
        )
    key_type, data = parts[0], parts[1]
    _check_key_blob(key_type, data)
    comment = parts[2] if len(parts) == 3 else ""
    if comment and not re.fullmatch(r"[\w@.+:-][\w@.+: -]*", comment):
        raise AnswerError("the key's comment may hold letters, digits, spaces and @ . + : - only")
    return " ".join(p for p in (key_type, data, comment) if p)


def _check_key_blob(key_type: str, data: str) -> None:
    damaged = "the key's base64 part is damaged: copy the whole line of your .pub file again"
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise AnswerError(damaged) from None
    fields = _ssh_strings(blob)
    if not fields:
        raise AnswerError(damaged)
    embedded = fields[0].decode("ascii", "replace")
    if embedded != key_type:
        shown = embedded if embedded in _KEY_TYPES else "something else"
        raise AnswerError(
            f"the line says {key_type} but its data holds {shown}: copy the whole line of "
            "your .pub file again"
        )
    layout = _KEY_TYPES[key_type]
    if (
        len(fields) != 1 + layout.fields
        or (layout.key_length and len(fields[1]) != layout.key_length)
        or (layout.curve and fields[1] != layout.curve)
    ):
        raise AnswerError(damaged)


def _ssh_strings(blob: bytes) -> list[bytes] | None:
    """The length-prefixed strings an SSH key blob is made of (RFC 4251), or None when the
    blob is not exactly a sequence of them."""
    fields = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return None
        length = int.from_bytes(blob[offset : offset + 4], "big")
        offset += 4
        if offset + length > len(blob):
            return None
        fields.append(blob[offset : offset + length])
        offset += length
    return fields


def parse_port(raw: Any) -> int:
    """A TCP/UDP port number, 1 to 65535: a whole number, or text of digits only."""
    refused = "a port is a whole number from 1 to 65535, like 2222"
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise AnswerError(f"{refused}; got {_kind(raw)} ({raw})")
    if isinstance(raw, str):
        text = _text(raw)
        if not re.fullmatch(r"[0-9]{1,5}", text):
            raise AnswerError(f"'{text}' is not a port: {refused}")
        raw = int(text)
    if not 1 <= raw <= 65535:
        raise AnswerError(f"{raw}: a port is between 1 and 65535")
    return raw


def _items(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [_text(item) for item in raw]
    return [item for item in re.split(r"[,\s]+", _text(raw)) if item]


def _whole_number_as_text(item: Any) -> Any:
    """A TOML integer in a list of ports is the port's text (extra_ports = [8080, 443])."""
    return str(item) if isinstance(item, int) and not isinstance(item, bool) else item


def parse_port_list(raw: Any) -> tuple[str, ...]:
    """Ports like '80/tcp, 443' (tcp when the protocol is left out), normalized to 'N/proto'."""
    if isinstance(raw, list | tuple):
        raw = [_whole_number_as_text(item) for item in raw]
    ports = []
    for item in _items(_whole_number_as_text(raw)):
        match = _PORT_SPEC.fullmatch(item.lower())
        if not match:
            raise AnswerError(f"'{item}' is not a port: write 8080 or 8080/tcp or 53/udp")
        number = parse_port(match.group(1))
        ports.append(f"{number}/{match.group(2) or 'tcp'}")
    return tuple(dict.fromkeys(ports))


_ZONE_ID = (
    "a zone id (the %... part) names an interface of one machine and has no place here: "
    "give the address alone"
)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address with no zone id: Python's ipaddress takes any text after '%' as one, and
    drops it when it prints a network, so 'fe80::1%1; 0.0.0.0/0' would become '::/0'."""
    if "%" in text:
        raise AnswerError(f"'{text}': {_ZONE_ID}")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise AnswerError(f"'{text}' is not an IPv4 or IPv6 address") from None


def parse_ip(raw: Any) -> str:
    """An IPv4 or IPv6 address, in its canonical text."""
    return str(_address(_text(raw)))


def parse_ipv4(raw: Any) -> str:
    """An IPv4 address (an A record, a listening address), in its canonical text."""
    address = _address(_text(raw))
    if address.version != 4:
        raise AnswerError(
            f"'{address}' is an IPv6 address; this question wants an IPv4 address like 192.0.2.10"
        )
    return str(address)


def parse_ipv6(raw: Any) -> str:
    """An IPv6 address (an AAAA record), in its canonical text; not an IPv4 one in disguise."""
    address = _address(_text(raw))
    if address.version != 6:
        raise AnswerError(
            f"'{address}' is an IPv4 address; this question wants an IPv6 address like 2001:db8::10"
        )
    if address.ipv4_mapped is not None:
        raise AnswerError(
            f"'{address}' is the IPv4 address {address.ipv4_mapped} written as IPv6: "
            "give it where an IPv4 address is asked"
        )
    return str(address)


def parse_network_list(raw: Any) -> tuple[str, ...]:
    """Addresses or networks (CIDR), IPv4 or IPv6, each in its canonical text."""
    networks = []
    for item in _items(raw):
        if "%" in item:
            raise AnswerError(f"'{item}': {_ZONE_ID}")
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
    if not isinstance(raw, str):
        raise AnswerError(f"answer true or false (or yes / no), not {_kind(raw)}")
    value = _text(raw).lower()
    if value in ("y", "yes", "true", "1", "on"):
        return True
    if value in ("n", "no", "false", "0", "off"):
        return False
    raise AnswerError("answer yes or no")


def parse_email(raw: Any) -> str:
    """An e-mail address with a valid domain part.

    The local part may hold what RFC 5322 allows (the engine quotes it wherever it goes), but
    not a leading '-': certbot and mail programs would read the address as an option.
    """
    value = _text(raw)
    local, sep, domain = value.rpartition("@")
    if not sep or not _EMAIL_LOCAL.fullmatch(local):
        raise AnswerError("expected an address like admin@example.org")
    if local.startswith("-"):
        raise AnswerError("an address cannot start with '-': programs read it as an option")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise AnswerError("the part before @ cannot start or end with '.' or hold '..'")
    return f"{local}@{parse_fqdn(domain)}"


_LOCAL_PART = re.compile(r"[a-z0-9](?:[a-z0-9_-]|\.(?!\.)){0,62}(?<![.])")


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
        if not _LOCAL_PART.fullmatch(value):
            raise AnswerError(
                f"'{item}' is not a mailbox name: use letters, digits, '.', '_' and '-' "
                "(64 at most), starting with a letter or digit"
            )
        names.append(value)
    return tuple(dict.fromkeys(names))


def parse_secret(raw: Any) -> str:
    """A password: one line, at least 12 characters, kept exactly as typed (spaces included).
    Never stored or logged."""
    if not isinstance(raw, str):
        raise AnswerError(f"expected text (in quotes in an answers file), got {_kind(raw)}")
    _refuse_control_characters(raw)
    if raw and len(raw) < 12:
        raise AnswerError("use at least 12 characters")
    return raw


_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::([0-9]{1,5}))?(?:/[A-Za-z0-9._~/%+-]*)?")
_PATH = re.compile(r"/[A-Za-z0-9._/+-]+")


def parse_url(raw: Any) -> str:
    """An https:// URL made only of characters that need no shell quoting (an ACME directory)."""
    value = _text(raw)
    match = _URL.fullmatch(value)
    if not match or (match.group(1) and not 1 <= int(match.group(1)) <= 65535):
        raise AnswerError("expected an https:// address like https://acme.example.org/directory")
    return value


def parse_path(raw: Any) -> str:
    """An absolute file path on the server, with no character a shell would interpret."""
    value = _text(raw)
    if not _PATH.fullmatch(value) or "/../" in f"{value}/":
        raise AnswerError("expected an absolute path like /etc/ssl/private/site.pem")
    return value


_CSP_DIRECTIVE = re.compile(r"[a-z][a-z0-9-]{0,40}")
# A source: a quoted keyword, nonce or hash ('self', 'nonce-...', 'sha256-...'), or a scheme,
# host or URL. No '"', '\\', '$', '%', ',', '{' or '}': the value goes between double quotes
# in nginx's add_header (where $ starts a variable) and Apache's Header (where % starts a
# format and ${} a variable), and ',' would start a second policy.
_CSP_SOURCE = re.compile(r"'[A-Za-z0-9+/=_-]+'|[A-Za-z0-9*:/.+=_?#@~&!-]+")
_CSP_LIMIT = 2000


def parse_csp(raw: Any) -> str:
    """A Content-Security-Policy like "default-src 'self'; img-src 'self' data:": directives
    separated by ';', each a name and its sources. Given back in one normal spelling."""
    value = _text(raw)
    if len(value) > _CSP_LIMIT:
        raise AnswerError(f"keep the policy under {_CSP_LIMIT} characters")
    directives = []
    for part in value.split(";"):
        words = part.split()
        if not words:
            continue
        name, sources = words[0], words[1:]
        if not _CSP_DIRECTIVE.fullmatch(name):
            raise AnswerError(
                f"'{name}' is not a directive name: expected lower case like default-src, "
                "then its sources, directives separated by ';'"
            )
        for source in sources:
            if not _CSP_SOURCE.fullmatch(source):
                raise AnswerError(
                    f"'{source}' is not a source: use a quoted keyword ('self', 'none', "
                    "'nonce-...', 'sha256-...'), a scheme (data:, https:) or a host; no double "
                    "quote, backslash, $, %, comma or braces"
                )
        directives.append(" ".join(words))
    if not directives:
        raise AnswerError("expected directives like default-src 'self'")
    return "; ".join(directives)


PARSERS: Mapping[str, Callable[[Any], AnswerValue]] = {
    "hostname": parse_hostname_label,
    "fqdn": parse_fqdn,
    "domain": parse_fqdn,
    "bare_domain": parse_bare_domain,
    "fqdn_list": parse_fqdn_list,
    "username": parse_username,
    "ssh_pubkey": parse_ssh_pubkey,
    "port": parse_port,
    "port_list": parse_port_list,
    "ip": parse_ip,
    "ipv4": parse_ipv4,
    "ipv6": parse_ipv6,
    "network_list": parse_network_list,
    "timezone": parse_timezone,
    "bool": parse_bool,
    "email": parse_email,
    "local_part_list": parse_local_part_list,
    "secret": parse_secret,
    "url": parse_url,
    "path": parse_path,
    "csp": parse_csp,
}


def parse_integer(question: Question, raw: Any) -> int:
    """A whole number of any size (text of digits for one beyond what TOML holds), within the
    question's `min` and `max` when it declares them."""
    expected = "a whole number" + _range(question)
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise AnswerError(f"expected {expected}, got {_kind(raw)} ({raw})")
    if isinstance(raw, str):
        text = _text(raw)
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise AnswerError(f"'{text}' is not {expected}")
        try:
            raw = int(text)
        except ValueError:  # beyond Python's limit on digits read from text (4300)
            raise AnswerError(f"{len(text)} digits is too long for {expected}") from None
    if (question.min is not None and raw < question.min) or (
        question.max is not None and raw > question.max
    ):
        raise AnswerError(f"{raw} is out of range: expected {expected}")
    return raw


def _range(question: Question) -> str:
    if question.min is not None and question.max is not None:
        return f" from {question.min} to {question.max}"
    if question.min is not None:
        return f" of at least {question.min}"
    if question.max is not None:
        return f" of at most {question.max}"
    return ""


def parse_text(question: Question, raw: Any) -> str:
    """One line of text; with a `pattern`, the whole answer must match it, and a refusal says
    the question's `pattern_help` (what is expected) rather than the expression."""
    value = _text(raw)
    if question.pattern is None or not value:
        return value
    try:
        matches = re.fullmatch(question.pattern, value) is not None
    except re.error as error:
        raise AnswerError(
            f"the step's pattern for this question is not a regular expression ({error})",
            "this is a bug in the step definition; report it with the step id",
        ) from None
    if not matches:
        expected = question.pattern_help or f"text matching {question.pattern}"
        raise AnswerError(f"'{value}': expected {expected}")
    return value


def _item_question(question: Question, item_type: str | None, name: str) -> Question:
    if item_type not in ITEM_TYPES:
        raise AnswerError(
            f"the step gives this list the item type '{item_type}'",
            f"this is a bug in the step definition: an item is one of {', '.join(ITEM_TYPES)}",
        )
    return replace(question, name=name, type=item_type, item=None, required=True, when=None)


def _split(text: str, separators: str) -> list[str]:
    return [part.strip() for part in re.split(f"[{separators}]", text) if part.strip()]


def parse_list(question: Question, raw: Any) -> tuple[AnswerValue, ...]:
    """A list of values of the question's `item` type: an array in an answers file, or text
    with the items separated by commas (as a form shows it). Each item is checked as a
    question of that type; a refusal names the item."""
    item = _item_question(question, question.item, question.name)
    if isinstance(raw, str):
        _refuse_control_characters(raw)
        raw = _split(raw, ",")
    if not isinstance(raw, list | tuple):
        raise AnswerError(f"expected a list of {question.item} values, got {_kind(raw)}")
    values = []
    for number, each in enumerate(raw, 1):
        try:
            values.append(parse_answer(item, each))
        except AnswerError as error:
            shown = f" ({each})" if isinstance(each, str | int) else ""
            raise AnswerError(f"item {number}{shown}: {error.message}", error.hint) from None
    return tuple(values)


def parse_table(question: Question, raw: Any) -> tuple[dict[str, AnswerValue], ...]:
    """Rows of typed cells, one per column of the question: an array of tables in an answers
    file ({ name = "alice", quota = 2 }), or text with rows separated by ';' and the cells of
    a row by ',' in column order (as a form shows it). A refusal names the row and column."""
    if isinstance(raw, str):
        _refuse_control_characters(raw)
        # An empty cell stays in its place: the next ones keep their columns.
        raw = [[cell.strip() for cell in row.split(",")] for row in _split(raw, ";")]
    if not isinstance(raw, list | tuple):
        raise AnswerError(f"expected rows (an array of tables), got {_kind(raw)}")
    names = [column.name for column in question.columns]
    for column in question.columns:
        _item_question(column, column.type, column.name)
    rows = []
    for number, row in enumerate(raw, 1):
        cells = _cells(row, names, number)
        parsed: dict[str, AnswerValue] = {}
        for column in question.columns:
            try:
                parsed[column.name] = parse_answer(column, cells.get(column.name))
            except AnswerError as error:
                raise AnswerError(
                    f"row {number}, {column.name}: {error.message}", error.hint
                ) from None
        rows.append(parsed)
    return tuple(rows)


def _cells(row: Any, names: list[str], number: int) -> Mapping[str, Any]:
    """A row's raw cells by column: a table as it is, a list of cells in column order."""
    if isinstance(row, list | tuple):
        if len(row) > len(names):
            raise AnswerError(
                f"row {number} has {len(row)} cells, the table {len(names)}: {', '.join(names)}"
            )
        return dict(zip(names, row, strict=False))
    if not isinstance(row, Mapping):
        raise AnswerError(f"row {number}: expected a table of {', '.join(names)}, got {_kind(row)}")
    unknown = sorted(set(row) - set(names))
    if unknown:
        raise AnswerError(
            f"row {number} has no column {', '.join(unknown)}",
            f"its columns are: {', '.join(names)}",
        )
    return row


def answer_as_text(question: Question, value: Any) -> str:
    """An answer as a one-line form field shows it, in the text its parser reads back: a list's
    items joined by ', ', a table's rows by '; ' (cells by ', '); never Python's repr."""
    if value is None:
        return ""
    if question.type == "table" and isinstance(value, list | tuple):
        return "; ".join(
            ", ".join(_cell_text(row.get(column.name)) for column in question.columns)
            if isinstance(row, Mapping)
            else ", ".join(_cell_text(cell) for cell in row)
            for row in value
        )
    if isinstance(value, list | tuple):
        return ", ".join(_cell_text(item) for item in value)
    return _cell_text(value)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def parse_choice(question: Question, raw: Any) -> str:
    """One of the question's choices. A number is taken as its text, as an answers file
    naturally holds it (maxretry = 5, php_version = 8.2)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)
    value = _text(raw)
    if value not in question.choices:
        raise AnswerError(f"choose one of: {', '.join(question.choices)}")
    return value


def _is_empty(raw: Any) -> bool:
    if isinstance(raw, str):
        return not raw.strip()
    return raw is None or (isinstance(raw, list | tuple) and not raw)


# The types whose parser reads the question's own fields (choices, min/max, pattern, item,
# columns).
QUESTION_PARSERS: Mapping[str, Callable[[Question, Any], AnswerValue]] = {
    "choice": parse_choice,
    "integer": parse_integer,
    "text": parse_text,
    "list": parse_list,
    "table": parse_table,
}
QUESTION_TYPES: tuple[str, ...] = (*PARSERS, *QUESTION_PARSERS)
"""Every question type a step may declare (the step schema checks `type` against it)."""

ITEM_TYPES = tuple(
    name
    for name in QUESTION_TYPES
    if name not in ("list", "table", "secret") and not name.endswith("_list")
)
"""The types a list's `item` and a table column may have: one value each. Not a secret: a
secret is masked in output and kept out of the state by its question, not by part of one."""


def _is_many(question: Question) -> bool:
    return question.type in ("list", "table") or question.type.endswith("_list")


def parse_answer(question: Question, raw: Any) -> AnswerValue:
    """Check one raw answer against its question; AnswerError says why it is refused."""
    parse = _parser_for(question)
    if _is_empty(raw) and question.type != "secret":
        if question.required:
            raise AnswerError("an answer is needed")
        return () if _is_many(question) else ""
    return parse(raw)


def _parser_for(question: Question) -> Callable[[Any], AnswerValue]:
    with_question = QUESTION_PARSERS.get(question.type)
    if with_question is not None:
        return lambda raw: with_question(question, raw)
    parser = PARSERS.get(question.type)
    if parser is None:
        raise AnswerError(f"the step defines an unknown question type '{question.type}'")
    return parser


# The largest number the state's server copy holds (wizard/state.py's MAX_NUMBER).
STORED_NUMBER = 2**63


def _storable(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > STORED_NUMBER:
        return str(value)
    if isinstance(value, tuple):
        return tuple(
            {k: _storable(v) for k, v in item.items()}
            if isinstance(item, Mapping)
            else _storable(item)
            for item in value
        )
    return value


@dataclass(frozen=True)
class Answers:
    """The validated answers of one step, by question name."""

    step_id: str
    values: Mapping[str, AnswerValue]
    secrets: frozenset[str] = frozenset()

    def public(self) -> dict[str, AnswerValue]:
        """The answers that may be stored or shown: secrets left out, an integer beyond what
        the state keeps as a number written as its digits (parse_integer reads them back)."""
        return {k: _storable(v) for k, v in self.values.items() if k not in self.secrets}

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
        if not asked(step, question, values):
            values[question.name] = _unasked_value(question, raw.get(question.name))
            continue
        if question.name not in raw:
            raise AnswerError(f"{step.id}: no answer for '{question.name}'")
        try:
            values[question.name] = parse_answer(question, raw[question.name])
        except AnswerError as error:
            raise AnswerError(f"{step.id}.{question.name}: {error.message}", error.hint) from None
    secrets = frozenset(q.name for q in step.questions if q.secret)
    return Answers(step.id, values, secrets)


def asked(step: Step, question: Question, answers: Mapping[str, Any]) -> bool:
    """Whether the question is asked: its `when` (over the answers before it) holds, or it has
    none. A form hides a question that is not asked."""
    if not question.when:
        return True
    # Jinja is loaded where a rule is evaluated, not when the forms import this module.
    from wizard.render import evaluate

    return bool(evaluate(step, question.when, {"answers": dict(answers)}))


def _unasked_value(question: Question, raw: Any) -> AnswerValue:
    """A question not asked is never refused: its prefilled value is kept when it parses (so
    it is there again when the question is asked later), else it is empty."""
    try:
        return parse_answer(question, raw)
    except AnswerError:
        if question.type == "bool":
            return False
        return () if _is_many(question) else ""


def check_refusals(step: Step, context: Mapping[str, Any]) -> None:
    """Refuse answers that contradict each other or another step's: the step's `[[refuse]]`
    rules, evaluated as templates see the answers (`answers`, `steps`); the first rule that
    holds is an AnswerError at its question, `step.question: reason`, as a form shows it. The
    reason is a text template over the same context, so it can name the value refused."""
    # Jinja is loaded where a rule is evaluated, not when the forms import this module.
    from wizard.render import evaluate, render_string

    for refusal in step.refusals:
        if evaluate(step, refusal.when, context):
            reason = render_string(step, refusal.reason, context)
            raise AnswerError(f"{step.id}.{refusal.question}: {reason}", refusal.hint)
