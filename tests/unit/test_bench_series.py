"""The whole-series benchmark's pure parts (scripts/bench_series.py): the package union the
floor installs in one apt-get, and what it reads of apt's history and the manifest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wizard.catalog import load_catalog
from wizard.plan import step_packages

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bench_series  # noqa: E402

WEB_NGINX = (
    "systemctl disable --now apache2 2>/dev/null; "
    "apt-get -o DPkg::Lock::Timeout=600 -q -y install nginx"
)


def test_a_command_s_apt_get_install_names_its_packages_only():
    assert bench_series.apt_installs(WEB_NGINX) == ("nginx",)
    assert bench_series.apt_installs(
        "DEBIAN_FRONTEND=noninteractive apt-get -q -y install rsync python3 >/dev/null"
    ) == ("rsync", "python3")
    assert bench_series.apt_installs(
        "apt-get -q -y install --no-install-recommends wordpress theme && a2enmod x"
    ) == ("wordpress", "theme")
    # Not an install: an update, an upgrade's dry run, a command that only mentions apt.
    assert bench_series.apt_installs("apt-get -q update && echo install") == ()
    assert bench_series.apt_installs("apt-get -s full-upgrade | grep '^Inst '") == ()


def test_the_union_holds_each_package_once_in_the_steps_order():
    union = bench_series.package_union(
        [
            (["unattended-upgrades"], ["hostname server"]),
            (["php-fpm", "php-mysql"], [WEB_NGINX]),
            (["postfix", "openssl"], []),
            (["opendkim", "openssl"], []),
        ]
    )
    assert union == (
        "unattended-upgrades",
        "php-fpm",
        "php-mysql",
        "nginx",
        "postfix",
        "openssl",
        "opendkim",
    )


def test_the_union_of_the_catalog_s_series_resolves_the_web_server_choice():
    """The web step's server is a package of its plan for that answer, not a command: the
    union holds the chosen one only, and no command of the step installs anything."""
    web = load_catalog().get("web")
    for server, chosen, other in (("nginx", "nginx", "apache2"), ("apache", "apache2", "nginx")):
        packages = step_packages(web, {"answers": {"server": server}})
        union = bench_series.package_union([(packages, [c.run for c in web.commands])])
        assert chosen in union and other not in union
        assert {"php-fpm", "php-mysql"} <= set(union)


HISTORY = """
Start-Date: 2026-12-07  03:25:59
Commandline: apt-get -y -q full-upgrade
Upgrade: apt:amd64 (2.6.1, 2.6.2)
End-Date: 2026-12-07  03:26:06

Start-Date: 2026-12-07  06:42:07
Commandline: apt-get -o DPkg::Lock::Timeout=600 -q -y install php-fpm php-mysql
Install: php-fpm:amd64 (2:8.2+93)
End-Date: 2026-12-07  06:42:24

Start-Date: 2026-12-07  23:59:58
Commandline: apt-get -q -y install nginx
End-Date: 2026-12-08  00:00:01

Start-Date: 2026-12-08  00:01:00
Commandline: apt-get -q -y install bind9
"""


def test_apt_history_gives_each_transaction_and_its_time():
    runs = bench_series.apt_runs(HISTORY)
    assert [r.seconds for r in runs] == [7, 17, 3, 0]  # the last has no End-Date yet
    assert runs[1].command.endswith("install php-fpm php-mysql")
    assert bench_series.apt_runs("") == []


def test_manifest_paths_keep_spaces_and_order():
    text = "a" * 64 + "  /etc/hosts\n" + "b" * 64 + "  /etc/odd name.conf\n\n"
    assert bench_series.manifest_paths(text) == ["/etc/hosts", "/etc/odd name.conf"]


@pytest.mark.parametrize("line", ["", "\n"])
def test_an_empty_manifest_has_no_paths(line):
    assert bench_series.manifest_paths(line) == []


def test_the_floor_script_is_valid_shell_with_odd_paths_and_commands(tmp_path):
    """Parsed by a real shell (sh -n): a command ending in a comment or `exit 0`, a path with
    a space and a quote, both floors."""
    import subprocess

    from wizard.shell import code, sh

    odd = "/etc/odd dir/it's.conf"
    step = bench_series.FloorStep(
        "demo",
        before=(sh("if ! {{ false; }}; then\n(\n{c}\n) || fail x\nfi", c=code("true # end")),),
        after=(code("(\nexit 0\n) || fail y"),),
        files=(odd,),
        enable=("nftables",),
        handlers=(code("systemctl reload-or-restart nginx || fail nginx"),),
    )
    files = {odd: bench_series.ServerFile(odd, b"x", 0o640, "root", "adm")}
    for held in (False, True):
        script = bench_series.floor_script(["nginx", "bind9"], [step], files, held)
        checked = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr + script
        assert "chmod 0640 '/etc/odd dir/it'\"'\"'s.conf'" in script
        assert ("policy-rc.d" in script) is held
