"""The base step on a real Debian 12 host: the release's security source added only when apt
lists none (one-line or deb822), unattended-upgrades shown to have it, and each hardening item
failing its check when broken by hand, then repaired by the next apply."""

from __future__ import annotations

import pytest

from tests.host.harness import apply_ok, assert_fails, checks

pytestmark = pytest.mark.host

OWN_SOURCE = "/etc/apt/sources.list.d/vps-wizard-security.sources"
HARDENING_CHECKS = (
    "system.security_source",
    "system.umask",
    "system.unused_modules",
    "system.login_banner",
    "system.sudo_log",
    "system.config_modes",
)
DEB822_SECURITY = """\
Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def assert_all_ok(results):
    for cid in HARDENING_CHECKS:
        assert results[cid]["status"] == "ok", results[cid]
    # In a container fs.suid_dumpable is the host's (read-only): a warning that says so.
    dumps = results["system.core_dumps"]
    assert dumps["status"] == "ok" or "set by the host" in dumps["summary"], dumps
    failed = {cid: r for cid, r in results.items() if r["status"] == "fail"}
    assert not failed, failed


def test_security_source_and_hardening_applied_broken_by_hand_and_repaired(
    fresh_testhost, wizard_factory, tmp_path
):
    host = fresh_testhost
    wizard = wizard_factory(host)
    wizard.trust_host()
    answers = tmp_path / "answers.toml"
    answers.write_text('[base]\nfqdn = "server.example.net"\ntimezone = "UTC"\nupgrade = false\n')
    target = f"root@{host.address}"

    # The security suite in deb822 form (as Debian 13's images write it): our file adds none.
    host.exec("sed -i /-security/d /etc/apt/sources.list")
    host.exec(f"cat > /etc/apt/sources.list.d/debian.sources <<'EOF'\n{DEB822_SECURITY}EOF")
    plan = wizard.cli("plan", target, "--answers", str(answers), "--step", "base")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"+++ {OWN_SOURCE} (new)" in plan.stdout, plan.stdout
    assert "so this file adds none" in plan.stdout and "+Suites:" not in plan.stdout

    # No security suite anywhere, its lists gone too: the plan shows the source the step adds.
    host.exec("rm /etc/apt/sources.list.d/debian.sources; rm -f /var/lib/apt/lists/*security*")
    plan = wizard.cli("plan", target, "--answers", str(answers), "--step", "base")
    assert f"+++ {OWN_SOURCE} (new)" in plan.stdout, plan.stdout
    assert "+Suites: bookworm-security" in plan.stdout

    output = apply_ok(wizard, target, ["base"], answers)
    assert "apt-get -o DPkg::Lock::Timeout=600 -q update" in output, output
    policy = host.exec("apt-cache policy").stdout
    assert "n=bookworm-security,l=Debian-Security" in policy, policy
    results = checks(wizard, "base")
    assert_all_ok(results)
    assert "bookworm-security" in results["system.security_source"]["summary"]

    # Broken by hand, each item is named by its check.
    host.exec(
        f"rm {OWN_SOURCE} /etc/security/limits.d/60-vps-wizard-coredump.conf "
        "/etc/sudoers.d/60-vps-wizard-log; "
        "sed -i 's/^UMASK.*/UMASK\t\t022/' /etc/login.defs; "
        "sed -i '/^install sctp /d' /etc/modprobe.d/vps-wizard-blacklist.conf; "
        "printf 'Debian GNU/Linux 12 \\\\n \\\\l\\n' > /etc/issue; "
        "chmod 644 /etc/ssh/sshd_config; chmod 755 /etc/cron.d"
    )
    broken = checks(wizard, "base")
    assert_fails(broken["system.security_source"], "bookworm-security", OWN_SOURCE, "none")
    assert_fails(broken["system.core_dumps"], "not limited to 0", "root (unset)")
    assert_fails(broken["system.umask"], "/etc/login.defs UMASK", "022")
    assert_fails(broken["system.unused_modules"], "sctp")
    assert "dccp" not in broken["system.unused_modules"]["summary"]
    assert_fails(broken["system.login_banner"], "/etc/issue tells the operating system")
    assert_fails(broken["system.sudo_log"], "no log", "60-vps-wizard-log")
    assert_fails(broken["system.config_modes"], "/etc/cron.d, /etc/ssh/sshd_config")
    # unattended-upgrades itself is still on: only the source check sees the gap.
    assert broken["system.unattended_upgrades"]["status"] == "ok"

    # The next apply puts everything back; sudo then logs to its own file.
    apply_ok(wizard, target, ["base"], answers)
    assert_all_ok(checks(wizard, "base"))
    host.exec("sudo -u nobody sudo -n true 2>/dev/null; sudo -n true", check=False)
    assert host.exec("test -s /var/log/sudo.log", check=False).returncode == 0
    assert host.exec("stat -c %a /etc/ssh/sshd_config").stdout.strip() == "600"
    again = wizard.cli("plan", host.address, "--answers", str(answers), "--step", "base")
    assert "base: nothing to change" in again.stdout, again.stdout
