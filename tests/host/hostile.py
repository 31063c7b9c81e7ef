"""Hostile but valid answers for the host tests, and the proof that none of them ran as code.

Each payload, if a shell ever ran it, leaves a file named vw-pwned-* behind; the search looks
at the whole machine (services with PrivateTmp have their /tmp elsewhere), not only /tmp.
"""

from __future__ import annotations

import json

from wizard.testhost.machine import TestHost

MARK = "vw-pwned"


def payload(tag: str) -> str:
    """A command without spaces that leaves /tmp/vw-pwned-TAG when a shell runs it."""
    return f"touch${{IFS}}/tmp/{MARK}-{tag}"


def toml_string(value: str) -> str:
    """A TOML basic string holding exactly `value` (JSON's escapes are TOML's too)."""
    return json.dumps(value)


def assert_no_payload_ran(host: TestHost) -> None:
    """No vw-pwned-* file anywhere on the machine."""
    found = host.exec(
        r"find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o "
        f"-name '{MARK}*' -print",
        check=False,
    ).stdout
    assert found == "", f"a payload ran on the server: {found}"
