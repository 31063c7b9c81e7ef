"""The Public Suffix List (Debian's `publicsuffix` package), for HSTS preload's rule that only a
registrable domain (one label under a public suffix: example.net, example.co.uk) can be
submitted, not a subdomain of one, nor a suffix itself."""

from __future__ import annotations

import functools
from pathlib import Path

LIST_PATHS = (
    Path("/usr/share/publicsuffix/public_suffix_list.dat"),
    Path("/usr/local/share/publicsuffix/public_suffix_list.dat"),
)


@functools.cache
def load_rules(path: Path | None = None) -> frozenset[str] | None:
    """The list's rules (`*.ck`, `!www.ck`, `co.uk`), or None when no list is installed."""
    for candidate in (path,) if path else LIST_PATHS:
        if candidate is not None and candidate.is_file():
            text = candidate.read_text(encoding="utf-8")
            return frozenset(
                line.split()[0].lower()
                for line in text.splitlines()
                if line.strip() and not line.startswith("//")
            )
    return None


def public_suffix(name: str, rules: frozenset[str]) -> str:
    """The longest public suffix of `name`, by the list's algorithm (exceptions win over
    wildcards; an unlisted top-level label is a suffix of its own)."""
    labels = name.lower().rstrip(".").split(".")
    best = 1
    for start in range(len(labels)):
        candidate = ".".join(labels[start:])
        count = len(labels) - start
        if f"!{candidate}" in rules:
            return ".".join(labels[start + 1 :])
        wildcard = ".".join(["*", *labels[start + 1 :]])
        if count > best and (candidate in rules or (count > 1 and wildcard in rules)):
            best = count
    return ".".join(labels[-best:])


def registrable_domain(name: str, rules: frozenset[str]) -> str | None:
    """The public suffix plus one label (`www.example.co.uk` -> `example.co.uk`), or None when
    `name` is itself a public suffix."""
    labels = name.lower().rstrip(".").split(".")
    suffix = public_suffix(name, rules).split(".")
    if len(labels) <= len(suffix):
        return None
    return ".".join(labels[-len(suffix) - 1 :])
