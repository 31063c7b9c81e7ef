"""The base step's security source and hardening: apt's sources parsed in both forms, the
security source added only when missing, and each check's judge against real server output."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from wizard.aptsources import OWN_SOURCE, parse_sources, security_source_to_add
from wizard.checks import system
from wizard.facts import parse_facts

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "base"

# apt-cache policy and apt-config dump on the Debian 12 test host (bookworm is oldstable now).
DEBIAN12_POLICY = """\
Package files:
 100 /var/lib/dpkg/status
     release a=now
 500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
     release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
     release v=12-updates,o=Debian,a=oldstable-updates,n=bookworm-updates,l=Debian,c=main,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm/main amd64 Packages
     release v=12.15,o=Debian,a=oldstable,n=bookworm,l=Debian,c=main,b=amd64
     origin deb.debian.org
Pinned packages:
"""
DEBIAN12_PATTERNS = "\n".join(
    'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}' + tail + '";'
    for tail in (",label=Debian", ",label=Debian-Security", "-security,label=Debian-Security")
)
DEBIAN12_RELEASE = "ID=debian\nVERSION_CODENAME=bookworm\n"
# Ubuntu 24.04's policy and its Allowed-Origins (the ESM origins are not configured here).
UBUNTU_POLICY = """\
Package files:
 100 /var/lib/dpkg/status
     release a=now
 500 http://security.ubuntu.com/ubuntu noble-security/universe amd64 Packages
     release v=24.04,o=Ubuntu,a=noble-security,n=noble,l=Ubuntu,c=universe,b=amd64
     origin security.ubuntu.com
 500 http://security.ubuntu.com/ubuntu noble-security/main amd64 Packages
     release v=24.04,o=Ubuntu,a=noble-security,n=noble,l=Ubuntu,c=main,b=amd64
     origin security.ubuntu.com
 500 http://archive.ubuntu.com/ubuntu noble/main amd64 Packages
     release v=24.04,o=Ubuntu,a=noble,n=noble,l=Ubuntu,c=main,b=amd64
     origin archive.ubuntu.com
Pinned packages:
"""
UBUNTU_PATTERNS = """\
Unattended-Upgrade::Allowed-Origins "";
Unattended-Upgrade::Allowed-Origins:: "${distro_id}:${distro_codename}";
Unattended-Upgrade::Allowed-Origins:: "${distro_id}:${distro_codename}-security";
Unattended-Upgrade::Allowed-Origins:: "${distro_id}ESMApps:${distro_codename}-apps-security";
Unattended-Upgrade::Allowed-Origins:: "${distro_id}ESM:${distro_codename}-infra-security";
"""
UBUNTU_RELEASE = "ID=ubuntu\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\n"
# Debian 13's and Ubuntu 24.04's deb822 files, as their cloud images ship them.
TRIXIE_SOURCES = """\
Types: deb deb-src
URIs: mirror+file:///etc/apt/mirrors/debian.list
Suites: trixie trixie-updates trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp

Types: deb deb-src
URIs: mirror+file:///etc/apt/mirrors/debian-security.list
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp
"""
NOBLE_SOURCES = """\
## Note, this file is written by cloud-init on first boot of an instance
Types: deb
URIs: http://ports.ubuntu.com/ubuntu-ports/
Suites: noble noble-updates noble-backports
Components: main universe restricted multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

## Ubuntu security updates. Aside from URIs and Suites,
## this should mirror your choices in the previous section.
Types: deb
URIs: http://ports.ubuntu.com/ubuntu-ports/
Suites: noble-security
Components: main universe restricted multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
"""
BOOKWORM_LIST = (
    "deb http://deb.debian.org/debian bookworm main non-free-firmware\n"
    "# deb http://deb.debian.org/debian-security bookworm-security main\n"
    "deb-src http://deb.debian.org/debian-security bookworm-security main\n"
    "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
    " http://deb.debian.org/debian bookworm-updates main\n"
)


def without_security(policy: str) -> str:
    """The policy with every security package file taken out (three lines each)."""
    lines = policy.splitlines()
    kept, skip = [], 0
    for line in lines:
        if "-security" in line and line.strip()[:1].isdigit():
            skip = 3
        if skip:
            skip -= 1
            continue
        kept.append(line)
    return "\n".join(kept)


# ----------------------------------------------------------------------------- apt sources


def test_one_line_and_deb822_sources_are_read_without_comments_sources_or_disabled_entries():
    entries = parse_sources(
        [
            ("/etc/apt/sources.list", BOOKWORM_LIST),
            ("/etc/apt/sources.list.d/debian.sources", TRIXIE_SOURCES),
            (
                "/etc/apt/sources.list.d/off.sources",
                "Types: deb\nEnabled: no\nURIs: x\nSuites: y\n",
            ),
        ]
    )
    suites = [(e.file.rsplit("/", 1)[-1], e.suites) for e in entries]
    assert suites == [
        ("sources.list", ("bookworm",)),
        ("sources.list", ("bookworm-updates",)),
        ("debian.sources", ("trixie", "trixie-updates", "trixie-backports")),
        ("debian.sources", ("trixie-security",)),
    ]
    assert entries[0].components == ("main", "non-free-firmware")


def test_no_source_is_added_when_the_release_lists_its_security_suite_in_either_form():
    trixie = parse_sources([("/etc/apt/sources.list.d/debian.sources", TRIXIE_SOURCES)])
    assert security_source_to_add(trixie, "debian", "trixie") is None
    noble = parse_sources([("/etc/apt/sources.list.d/ubuntu.sources", NOBLE_SOURCES)])
    assert security_source_to_add(noble, "ubuntu", "noble") is None


def test_a_missing_security_suite_is_added_with_the_main_archive_components():
    bookworm = parse_sources([("/etc/apt/sources.list", BOOKWORM_LIST)])
    source = security_source_to_add(bookworm, "debian", "bookworm")
    assert source is not None
    assert source.uri == "http://deb.debian.org/debian-security"
    assert source.suite == "bookworm-security"
    assert source.components == ("main", "non-free-firmware")
    assert source.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_ubuntu_on_ports_gets_the_ports_security_archive():
    text = NOBLE_SOURCES.split("## Ubuntu security")[0]
    noble = parse_sources([("/etc/apt/sources.list.d/ubuntu.sources", text)])
    source = security_source_to_add(noble, "ubuntu", "noble")
    assert source is not None and source.uri == "http://ports.ubuntu.com/ubuntu-ports"
    amd64 = parse_sources(
        [("/etc/apt/sources.list", "deb http://archive.ubuntu.com/ubuntu noble main\n")]
    )
    source = security_source_to_add(amd64, "ubuntu", "noble")
    assert source is not None and source.uri == "http://security.ubuntu.com/ubuntu"


def test_our_own_file_does_not_count_so_the_step_keeps_it():
    ours = parse_sources(
        [
            ("/etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main\n"),
            (
                OWN_SOURCE,
                "Types: deb\nURIs: http://deb.debian.org/debian-security\n"
                "Suites: bookworm-security\n",
            ),
        ]
    )
    assert security_source_to_add(ours, "debian", "bookworm") is not None


def test_facts_carry_the_codename_and_the_sources_from_the_facts_script():
    import base64

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    output = (
        "kernel=6.1\n"
        f"apt_source={b64('/etc/apt/sources.list')} {b64(BOOKWORM_LIST)}\n"
        "apt_source=!!! damaged\n"
        '@@OS-RELEASE\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
        "@@STATE\n\n@@DRIFT\n"
    )
    facts = parse_facts(output)
    assert facts.os_codename == "bookworm"
    source = facts.as_template_context()["apt_security_source"]
    assert source is not None and source.suite == "bookworm-security"


# ----------------------------------------------------------------------------- security_source


def test_debian_security_source_matches_the_origins_pattern():
    result = system.judge_security_source(DEBIAN12_RELEASE, DEBIAN12_PATTERNS, DEBIAN12_POLICY, "")
    assert result.status == "ok", result
    assert "bookworm-security" in result.summary


def test_ubuntu_security_pocket_matches_allowed_origins():
    result = system.judge_security_source(UBUNTU_RELEASE, UBUNTU_PATTERNS, UBUNTU_POLICY, "")
    assert result.status == "ok", result
    assert "security.ubuntu.com/ubuntu noble-security" in result.summary


def test_no_security_source_fails_naming_the_suite_and_what_to_run():
    for release, patterns, policy, suite in (
        (DEBIAN12_RELEASE, DEBIAN12_PATTERNS, DEBIAN12_POLICY, "bookworm-security"),
        (UBUNTU_RELEASE, UBUNTU_PATTERNS, UBUNTU_POLICY, "noble-security"),
    ):
        result = system.judge_security_source(release, patterns, without_security(policy), "")
        assert result.status == "fail", result
        assert suite in result.summary
        assert OWN_SOURCE in result.hint
        assert "files listing " + suite + ": none" in result.evidence


def test_a_listed_but_not_fetched_source_asks_for_apt_get_update():
    listed = (
        "/etc/apt/sources.list:deb http://deb.debian.org/debian-security bookworm-security main"
    )
    result = system.judge_security_source(
        DEBIAN12_RELEASE, DEBIAN12_PATTERNS, without_security(DEBIAN12_POLICY), listed
    )
    assert result.status == "fail"
    assert "apt-get update" in result.hint and "/etc/apt/sources.list" in result.hint


def test_without_unattended_upgrades_patterns_no_security_origin_is_allowed():
    result = system.judge_security_source(DEBIAN12_RELEASE, "", DEBIAN12_POLICY, "")
    assert result.status == "fail"
    assert "no security origin" in result.summary


def test_a_security_label_on_another_codename_is_no_match():
    # Debian's second pattern (codename without -security) must not match bookworm-security.
    pattern = "origin=Debian,codename=bookworm,label=Debian-Security"
    source = {"o": "Debian", "n": "bookworm-security", "l": "Debian-Security"}
    assert not system.origin_matches(pattern, source)
    assert system.origin_matches("o=Deb*,n=bookworm-security", source)


# ----------------------------------------------------------------------------- hardening

LIMITS_OK = (
    "/etc/security/limits.conf:# <domain> <type> <item> <value>\n"
    "/etc/security/limits.d/60-vps-wizard-coredump.conf:*\thard\tcore\t0\n"
    "/etc/security/limits.d/60-vps-wizard-coredump.conf:root\thard\tcore\t0\n"
)
COREDUMP_OK = (
    "# /etc/systemd/coredump.conf\n[Coredump]\n#Storage=external\n\n"
    "# /etc/systemd/coredump.conf.d/60-vps-wizard.conf\n[Coredump]\nStorage=none\n"
)
SYSCTL_OK = (
    "# /usr/lib/sysctl.d/50-default.conf\nkernel.sysrq = 0x01b6\n"
    "# /etc/sysctl.d/60-vps-wizard-coredump.conf\nfs.suid_dumpable = 0\n"
)


def test_core_dumps_off_everywhere_is_ok():
    assert system.judge_core_dumps(LIMITS_OK, COREDUMP_OK, SYSCTL_OK, "0\nwritable").status == "ok"


def test_core_dumps_allowed_again_by_a_later_file_fails():
    later = LIMITS_OK + "/etc/security/limits.d/99-dev.conf:root hard core unlimited\n"
    result = system.judge_core_dumps(later, COREDUMP_OK, SYSCTL_OK, "0\nwritable")
    assert result.status == "fail" and "root unlimited" in result.evidence


def test_systemd_coredump_storing_and_suid_dumpable_unset_fail():
    result = system.judge_core_dumps(LIMITS_OK, "[Coredump]\n", "", "2\nwritable")
    assert result.status == "fail"
    assert "Storage=external" in result.summary and "fs.suid_dumpable" in result.summary


def test_suid_dumpable_held_by_a_containers_host_is_a_warning():
    result = system.judge_core_dumps(LIMITS_OK, COREDUMP_OK, SYSCTL_OK, "2\nread-only")
    assert result.status == "warn" and "set by the host" in result.summary
    applied_not = system.judge_core_dumps(LIMITS_OK, COREDUMP_OK, SYSCTL_OK, "2\nwritable")
    assert applied_not.status == "fail" and "not applied" in applied_not.summary


def test_umask_027_or_stricter_is_ok_and_022_fails():
    assert system.judge_umask("UMASK\t\t027\n", "0027").status == "ok"
    assert system.judge_umask("UMASK 077\n", "0077").status == "ok"
    result = system.judge_umask("UMASK\t\t022\n", "0027")
    assert result.status == "fail" and "/etc/login.defs" in result.summary
    assert system.judge_umask("UMASK 027\n", "0022").status == "fail"


def test_template_and_check_list_the_same_modules():
    template = (TEMPLATES / "modprobe-blacklist.conf.j2").read_text()
    assert tuple(re.findall(r"^install (\S+) /bin/false$", template, re.M)) == system.UNUSED_MODULES


def test_unused_modules_each_named_when_loadable():
    ours = "".join(
        f"/etc/modprobe.d/vps-wizard-blacklist.conf:install {m} /bin/false\n"
        for m in system.UNUSED_MODULES
        if m != "sctp"
    )
    assert (
        system.judge_unused_modules(ours + "/lib/modprobe.d/x.conf:install sctp /bin/true\n").status
        == "ok"
    )
    result = system.judge_unused_modules(ours)
    assert result.status == "fail" and result.summary.endswith("sctp")
    # usb_storage is usb-storage to modprobe; a later install line that loads it undoes ours.
    both = (
        ours.replace("usb-storage", "usb_storage")
        + "/etc/modprobe.d/sctp.conf:install sctp /bin/false\n"
    )
    assert system.judge_unused_modules(both).status == "ok"
    undone = both + "/etc/modprobe.d/z.conf:install dccp /sbin/modprobe --ignore-install dccp\n"
    assert "dccp" in system.judge_unused_modules(undone).summary


def test_a_file_in_etc_hides_the_same_name_in_lib():
    lib = "/lib/modprobe.d/a.conf:install dccp /bin/false\n"
    etc = "/etc/modprobe.d/a.conf:# emptied by hand\n"
    assert "dccp" not in system.not_loadable(etc + lib)


def test_login_banner_names_os_or_gives_no_warning_fails():
    banner = (TEMPLATES / "issue.j2").read_text()
    good = "".join(
        f"{path}:{line}\n" for path in system.BANNER_FILES for line in banner.splitlines()
    )
    assert system.judge_login_banner(good).status == "ok"
    debian = good.replace("/etc/issue:", "/etc/issue:Debian GNU/Linux 12 \\n \\l\n/etc/issue:", 1)
    assert "/etc/issue tells" in system.judge_login_banner(debian).summary
    ubuntu = "/etc/issue:\\S{PRETTY_NAME} \\n \\l\n/etc/issue.net:Welcome\n"
    result = system.judge_login_banner(ubuntu)
    assert (
        "/etc/issue tells" in result.summary and "/etc/issue.net gives no warning" in result.summary
    )
    assert (
        "/etc/issue.net is missing"
        in system.judge_login_banner("/etc/issue:Authorized only\n").summary
    )


def test_sudo_log_set_is_ok_and_missing_fails():
    with_log = "Sudo version 1.9.13p3\nPath to log file: /var/log/sudo.log\n"
    assert system.judge_sudo_log(with_log).status == "ok"
    result = system.judge_sudo_log("Sudo version 1.9.13p3\n")
    assert result.status == "fail" and "60-vps-wizard-log" in result.hint
    assert "not installed" in system.judge_sudo_log("sh: 1: sudo: not found\n").summary


def test_config_modes_name_what_others_can_read():
    assert system.judge_config_modes("700 /etc/cron.d\n600 /etc/ssh/sshd_config\n").status == "ok"
    result = system.judge_config_modes(
        "755 /etc/cron.d\n644 /etc/ssh/sshd_config\n600 /etc/crontab\n"
    )
    assert result.status == "fail"
    assert result.summary == "readable by others: /etc/cron.d, /etc/ssh/sshd_config"
    assert "chmod go-rwx /etc/cron.d /etc/ssh/sshd_config" in result.hint


def test_the_security_file_holds_the_source_only_when_none_lists_the_suite():
    from wizard.catalog import load_catalog
    from wizard.render import render_template

    step = load_catalog([]).get("base")

    def render(files: list[tuple[str, str]]) -> str:
        facts = parse_facts("@@OS-RELEASE\nID=debian\nVERSION_CODENAME=bookworm\n@@STATE\n")
        facts = dataclasses.replace(facts, apt_sources=parse_sources(files))
        return render_template(
            step, "vps-wizard-security.sources.j2", {"facts": facts.as_template_context()}
        )

    added = render([("/etc/apt/sources.list", BOOKWORM_LIST)])
    assert "Suites: bookworm-security\n" in added
    assert "Components: main non-free-firmware\n" in added
    listed = render(
        [("/etc/apt/sources.list.d/debian.sources", TRIXIE_SOURCES.replace("trixie", "bookworm"))]
    )
    assert "Suites:" not in listed and "bookworm-security, so this file adds none" in listed
    assert all(line.startswith("#") for line in listed.splitlines())
