"""apt's sources as the server lists them (one-line .list and deb822 .sources entries), and the
security source the base step adds when the release's security suite is in none of them.

Pure functions over the files' text: the facts script reads the files, these parse them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OWN_SOURCE = "/etc/apt/sources.list.d/vps-wizard-security.sources"


@dataclass(frozen=True)
class AptEntry:
    """One enabled `deb` entry: the file it is in, its URIs, suites and components."""

    file: str
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]


@dataclass(frozen=True)
class SecuritySource:
    """The deb822 entry the base step writes for the release's security updates."""

    uri: str
    suite: str
    components: tuple[str, ...]
    signed_by: str


def _one_line_entries(path: str, text: str) -> list[AptEntry]:
    entries = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            # Options: `[arch=amd64 signed-by=/path]`, maybe spread over several words.
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            entries.append(AptEntry(path, (words[0],), (words[1],), tuple(words[2:])))
    return entries


def _deb822_entries(path: str, text: str) -> list[AptEntry]:
    entries = []
    for stanza in _stanzas(text):
        if "deb" not in stanza.get("types", "").split():
            continue
        if stanza.get("enabled", "yes").strip().lower() in ("no", "false", "0"):
            continue
        entries.append(
            AptEntry(
                path,
                tuple(stanza.get("uris", "").split()),
                tuple(stanza.get("suites", "").split()),
                tuple(stanza.get("components", "").split()),
            )
        )
    return entries


def _stanzas(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs as {lower-case field: value}; continuation lines joined."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field = ""
    for raw in [*text.splitlines(), ""]:
        if raw.lstrip().startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, field = {}, ""
        elif raw[0] in " \t" and field:
            current[field] += " " + raw.strip()
        elif ":" in raw:
            name, _, value = raw.partition(":")
            field = name.strip().lower()
            current[field] = value.strip()
    return stanzas


def parse_sources(files: Iterable[tuple[str, str]]) -> tuple[AptEntry, ...]:
    """The enabled `deb` entries of the files given as (path, content)."""
    entries: list[AptEntry] = []
    for path, text in files:
        parse = _deb822_entries if path.endswith(".sources") else _one_line_entries
        entries += parse(path, text)
    return tuple(entries)


def security_suite(codename: str) -> str:
    """The suite of a release's security updates (bookworm-security, noble-security)."""
    return f"{codename}-security"


def security_source_to_add(
    entries: tuple[AptEntry, ...], family: str, codename: str
) -> SecuritySource | None:
    """The security source to add, or None when another file already lists the suite (or the
    release is not one the step knows)."""
    if not codename or family not in ("debian", "ubuntu"):
        return None
    suite = security_suite(codename)
    theirs = [entry for entry in entries if entry.file != OWN_SOURCE]
    if any(suite in entry.suites for entry in theirs):
        return None
    main = next((entry for entry in theirs if codename in entry.suites), None)
    if family == "debian":
        return SecuritySource(
            "http://deb.debian.org/debian-security",
            suite,
            main.components if main else ("main",),
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        )
    ports = main is not None and any("ubuntu-ports" in uri for uri in main.uris)
    return SecuritySource(
        "http://ports.ubuntu.com/ubuntu-ports" if ports else "http://security.ubuntu.com/ubuntu",
        suite,
        main.components if main else ("main", "restricted", "universe", "multiverse"),
        "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
    )
