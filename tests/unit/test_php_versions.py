"""The PHP versions a server's apt offers: read by the facts script from apt's cache, parsed
into facts.php_versions, and offered by the web step's PHP question (choices_from)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from wizard.catalog import load_catalog
from wizard.choices import offered_catalog, offered_step
from wizard.errors import WizardError
from wizard.facts import facts_script, parse_facts, php_versions

# What `apt-cache pkgnames php` prints on Debian 12 with Sury's repository added (abridged):
# metapackages, modules and debug packages around the -fpm packages.
PKGNAMES = """\
php-fpm
php8.2-fpm
php8.2-fpm-dbgsym
php8.3-fpm
php8.10-fpm
php8.3-mysql
php-mysql
php5.6-fpmx
phpx-fpm
"""


def run_facts_script(tmp_path: Path, pkgnames: str) -> str:
    """The real facts script run by sh here, with a fake apt-cache printing `pkgnames`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-cache"
    fake.write_text(
        '#!/bin/sh\n[ "$1 $2" = "pkgnames php" ] || exit 2\ncat <<\'EOF\'\n' + pkgnames + "EOF\n"
    )
    fake.chmod(0o755)
    return subprocess.run(
        ["sh", "-c", str(facts_script(["openssh-server"])), "sh", "198.51.100.7 5 192.0.2.10 22"],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
        timeout=30,
        check=False,
    ).stdout


def test_the_facts_script_lists_the_fpm_versions_of_apt_s_cache(tmp_path: Path) -> None:
    facts = parse_facts(run_facts_script(tmp_path, PKGNAMES))
    assert facts.php_versions == ("8.2", "8.3", "8.10")
    assert facts.as_template_context()["php_versions"] == ("8.2", "8.3", "8.10")


def test_an_empty_apt_cache_gives_no_versions(tmp_path: Path) -> None:
    # apt never updated on a fresh image: the cache names no php*-fpm package.
    assert parse_facts(run_facts_script(tmp_path, "")).php_versions == ()


def test_only_version_numbers_are_taken_in_number_order() -> None:
    assert php_versions("8.4 8.2 8.10 7.4 8.2") == ("7.4", "8.2", "8.4", "8.10")
    # Nothing but digits and dots reaches a package name or a path.
    assert php_versions("8.2 8.3;reboot ../8 8. $(id) 9") == ("8.2", "9")
    assert php_versions("") == ()


def test_the_web_step_offers_the_server_s_versions_and_falls_back_without_them() -> None:
    catalog = load_catalog()
    static = catalog.get("web").question("php_version").choices
    assert static == ("8.2", "8.3", "8.4")
    offered = offered_catalog(catalog, {"php_versions": ("8.2",)})
    assert offered.get("web").question("php_version").choices == ("8.2",)
    # Steps without such a question are the same objects.
    assert offered.get("base") is catalog.get("base")
    # An empty apt cache: the static choices, and the release's refusals, stand.
    empty = offered_catalog(catalog, {"php_versions": ()})
    assert empty.get("web").question("php_version").choices == static


def test_a_choices_from_that_is_no_list_is_the_step_s_bug() -> None:
    web = load_catalog().get("web")
    with pytest.raises(WizardError) as refused:
        offered_step(web, {"php_versions": "8.2"})
    assert "web.php_version: choices_from gave '8.2', not a list" in refused.value.message
