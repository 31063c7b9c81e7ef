"""What checks take from their parameters: name lists, and paths and domains plain enough to
reach a script without quoting trouble; and where the dns-zone step keeps a domain's zone."""

from __future__ import annotations

import re
from typing import Any

DOMAIN_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
ZONE_DIR = "/var/lib/bind/vps-wizard"


def names_of(value: Any) -> list[str]:
    """A check parameter holding one name or a list of names, as a list."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value]


def safe_path(path: str) -> bool:
    """An absolute path made only of characters that need no shell quoting."""
    return bool(re.fullmatch(r"/[A-Za-z0-9._/-]+", path)) and ".." not in path


def safe_domain(domain: str) -> bool:
    """A plain domain name: lowercase letters, digits, dots and hyphens, no empty label."""
    return bool(DOMAIN_RE.match(domain)) and ".." not in domain


def zone_file(domain: str) -> str:
    """The zone file the dns-zone step builds for a domain (the dnssec checks read it too)."""
    return f"{ZONE_DIR}/db.{domain}"
