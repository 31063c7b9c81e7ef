"""The Public Suffix List algorithm, on the list's own test rules and on Debian's list."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.publicsuffix import load_rules, public_suffix, registrable_domain

RULES = frozenset({"com", "net", "uk", "co.uk", "ck", "*.ck", "!www.ck", "jp", "kyoto.jp"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example.net", "example.net"),
        ("www.example.net", "example.net"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("co.uk", None),
        ("net", None),
        ("b.c.ck", "b.c.ck"),  # *.ck: c.ck is a suffix
        ("c.ck", None),
        ("www.ck", "www.ck"),  # !www.ck: an exception to the wildcard
        ("a.www.ck", "www.ck"),
        ("test.kyoto.jp", "test.kyoto.jp"),
        ("example.unlisted", "example.unlisted"),  # an unknown TLD is a suffix of its own
    ],
)
def test_registrable_domain(name, expected):
    assert registrable_domain(name, RULES) == expected


def test_public_suffix_is_the_longest_rule():
    assert public_suffix("shop.example.co.uk", RULES) == "co.uk"


def test_debian_list_knows_co_uk_and_github_io():
    rules = load_rules()  # scripts/setup.sh installs the publicsuffix package
    assert rules is not None
    assert registrable_domain("www.example.co.uk", rules) == "example.co.uk"
    assert registrable_domain("github.io", rules) is None
    assert registrable_domain("me.github.io", rules) == "me.github.io"


def test_no_list_installed_gives_none(tmp_path: Path):
    assert load_rules(tmp_path / "missing.dat") is None
