"""Verification checks, by area. Importing an area module registers its checks."""

from __future__ import annotations

import importlib

AREAS = (
    "system",
    "ssh",
    "firewall",
    "fail2ban",
    "web",
    "database",
    "vhost",
    "tls",
    "hsts",
    "dns",
    "dnssec",
    "mail",
    "mail_auth",
    "dane",
)


def load_all_checks() -> None:
    """Import every area module so that its checks are registered."""
    for area in AREAS:
        importlib.import_module(f"wizard.checks.{area}")
