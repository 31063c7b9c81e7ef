"""Odd things at a destination (finding 7): a directory, a link to /etc/shadow, a 100 MB file.

The test-only step odd-dest writes /etc/vps-wizard-test/odd.conf; each test first puts
something odd there. A directory is refused before anything happens; a link is shown as a link
(its target is never read) and replaced by a regular file; a large binary file is compared by
digest and summarised in one line.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.host.harness import Wizard
from wizard.facts import STATE_DIR

pytestmark = pytest.mark.host
DEST = "/etc/vps-wizard-test/odd.conf"
STEP = "odd-dest"


@pytest.fixture
def odd_host(fresh_testhost, wizard_factory) -> Wizard:
    wizard = wizard_factory(fresh_testhost)
    wizard.trust_host()
    fresh_testhost.exec("mkdir -p /etc/vps-wizard-test")
    return wizard


def target(wizard: Wizard) -> str:
    return f"root@{wizard.host.address}"


def runs(wizard: Wizard) -> str:
    return wizard.host.exec(f"ls {STATE_DIR}/runs 2>/dev/null || true").stdout


def fingerprint(wizard: Wizard, path: str) -> str:
    """Content digest, mode, owner and kind of a path, to show it did not change."""
    return wizard.host.exec(f"sha256sum {path}; stat -c '%a %U:%G %F' {path}").stdout


def shadow_secrets(wizard: Wizard) -> list[str]:
    """Pieces of /etc/shadow that must never leave the server: root's hash, and the
    field layout of every account line."""
    root = wizard.host.exec("grep '^root:' /etc/shadow").stdout.split(":")
    assert len(root[1]) > 20, "the test host's root has no password hash to look for"
    return [root[1], ":99999:7:::"]


def local_files_text(wizard: Wizard) -> bytes:
    """Every byte the wizard keeps on the laptop (state database, journal files)."""
    return b"".join(
        path.read_bytes()
        for path in sorted(Path(wizard.home).rglob("*"))
        if path.is_file() and not path.is_symlink()
    )


def test_a_directory_at_a_destination_is_refused_and_nothing_changes(odd_host):
    odd_host.host.exec(f"mkdir {DEST} && echo kept > {DEST}/keep")
    before = runs(odd_host)
    plan = odd_host.cli("plan", target(odd_host), "--step", STEP)
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert f"{DEST}, but on the server that path is a directory" in plan.stderr
    assert f"mv {DEST} {DEST}.orig" in plan.stderr
    assert "Traceback" not in plan.stderr
    apply = odd_host.cli("apply", target(odd_host), "--step", STEP, "--yes")
    assert apply.returncode == 1, apply.stdout + apply.stderr
    assert "is a directory" in apply.stderr and "Nothing was changed" in apply.stderr
    assert odd_host.host.exec(f"cat {DEST}/keep").stdout == "kept\n"
    assert odd_host.host.exec(f"ls -A {DEST}").stdout == "keep\n"
    assert runs(odd_host) == before


def test_a_link_to_shadow_is_shown_as_a_link_and_replaced_by_a_file(odd_host):
    odd_host.host.exec(f"ln -s /etc/shadow {DEST}")
    shadow = fingerprint(odd_host, "/etc/shadow")
    secrets = shadow_secrets(odd_host)
    plan = odd_host.cli("plan", target(odd_host), "--step", STEP)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert (
        f"{DEST} (server) is a symbolic link to /etc/shadow; "
        "it will be replaced by a regular file" in plan.stdout
    )
    assert "+valid = yes" in plan.stdout
    as_json = odd_host.cli("plan", target(odd_host), "--step", STEP, "--json")
    for secret in secrets:
        assert secret not in plan.stdout + plan.stderr
        assert secret not in as_json.stdout + as_json.stderr
    apply = odd_host.cli("apply", target(odd_host), "--step", STEP, "--yes")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    kind = odd_host.host.exec(f"stat -c %F {DEST}").stdout.strip()
    assert kind == "regular file"
    assert "valid = yes" in odd_host.host.exec(f"cat {DEST}").stdout
    assert fingerprint(odd_host, "/etc/shadow") == shadow
    for secret in secrets:
        assert secret.encode() not in local_files_text(odd_host)


def test_a_failed_validation_behind_a_link_keeps_shadow_out_of_the_local_state(odd_host, tmp_path):
    odd_host.host.exec(f"ln -s /etc/shadow {DEST}")
    shadow = fingerprint(odd_host, "/etc/shadow")
    secrets = shadow_secrets(odd_host)
    answers = tmp_path / "invalid.toml"
    answers.write_text(f"[{STEP}]\nvalid = false\n")
    apply = odd_host.cli(
        "apply", target(odd_host), "--step", STEP, "--answers", str(answers), "--yes"
    )
    assert apply.returncode == 1, apply.stdout + apply.stderr
    assert f"validation of {DEST} failed" in apply.stderr
    # Nothing changed on the server: the link is still a link, shadow as it was.
    assert odd_host.host.exec(f"readlink {DEST}").stdout == "/etc/shadow\n"
    assert fingerprint(odd_host, "/etc/shadow") == shadow
    stored = local_files_text(odd_host)
    for secret in secrets:
        assert secret.encode() not in stored, "server text of the failure was stored locally"
    status = odd_host.cli("status", target(odd_host), "--json")
    for secret in secrets:
        assert secret not in status.stdout


def test_a_100_mb_binary_file_is_summarised_fast_and_replaced(odd_host):
    odd_host.host.exec(f"head -c 104857600 /dev/urandom > {DEST}", timeout=120)
    digest = odd_host.host.exec(f"sha256sum {DEST}").stdout.split()[0]
    started = time.monotonic()
    plan = odd_host.cli("plan", target(odd_host), "--step", STEP)
    elapsed = time.monotonic() - started
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert elapsed < 10, f"plan took {elapsed:.1f} s"
    assert f"a large file, 104857600 bytes, sha256 {digest}" in plan.stdout
    assert "will be replaced" in plan.stdout
    assert len(plan.stdout) < 2000, plan.stdout[:2000]
    assert "\x1b" not in plan.stdout and "\x00" not in plan.stdout
    apply = odd_host.cli("apply", target(odd_host), "--step", STEP, "--yes")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert odd_host.host.exec(f"cat {DEST}").stdout.endswith("valid = yes\n")
    again = odd_host.cli("plan", target(odd_host), "--step", STEP)
    assert again.returncode == 0, again.stdout + again.stderr
