"""The kernel-hardening and entropy steps' judgements, without a server: the sysctl check's
verdict for each case a server shows (in force, held by the host, put back by hand, overridden
at boot, a congestion control the kernel lacks), the drop-in the answers render, and haveged
proposed only on a kernel before 5.6."""

from __future__ import annotations

import re
import subprocess
from types import SimpleNamespace

import pytest

from wizard.catalog import load_catalog
from wizard.checks.base import CheckStatus
from wizard.checks.kernel import judge_sysctl, settings, sysctl_script
from wizard.facts import congestion_controls, facts_script
from wizard.render import evaluate, render_template

CATALOG = load_catalog()
KERNEL = CATALOG.get("kernel-hardening")
ENTROPY = CATALOG.get("entropy")
PATH = "/etc/sysctl.d/99-vps-wizard-kernel.conf"
FILE = """\
# comment = not a key
net.ipv4.conf.all.log_martians = 1
kernel.kptr_restrict = 2
net.ipv4.tcp_rmem = 4096\t131072   16777216
"""
BOOT = f"# {PATH}\n{FILE}"


def live(*rows: tuple[str, str, str]) -> str:
    return "\n".join("\t".join(row) for row in rows)


IN_FORCE = (
    ("net.ipv4.conf.all.log_martians", "writable", "1"),
    ("kernel.kptr_restrict", "writable", "2"),
    ("net.ipv4.tcp_rmem", "writable", "4096 131072 16777216"),
)


def test_settings_read_like_sysctl() -> None:
    assert settings(FILE + "-fs.protected_fifos = 2\n") == {
        "net.ipv4.conf.all.log_martians": "1",
        "kernel.kptr_restrict": "2",
        "net.ipv4.tcp_rmem": "4096 131072 16777216",
        "fs.protected_fifos": "2",
    }


def test_every_key_in_force_is_ok() -> None:
    result = judge_sysctl(PATH, FILE, live(*IN_FORCE), BOOT, "reno cubic bbr")
    assert result.status is CheckStatus.OK, result
    assert "the 3 kernel settings" in result.summary


def test_a_key_the_container_cannot_set_is_the_host_s_not_a_failure() -> None:
    rows = (IN_FORCE[0], ("kernel.kptr_restrict", "ro-mount", "0"), IN_FORCE[2])
    result = judge_sysctl(PATH, FILE, live(*rows), BOOT, "")
    assert result.status is CheckStatus.WARN, result
    assert result.summary == (
        "set by the host, not settable here: kernel.kptr_restrict is 0 "
        "(/proc/sys is mounted read-only: a container's kernel belongs to its host)"
    )
    assert result.hint


def test_a_read_only_key_already_right_is_ok() -> None:
    rows = (IN_FORCE[0], ("kernel.kptr_restrict", "ro-mount", "2"), IN_FORCE[2])
    assert judge_sysctl(PATH, FILE, live(*rows), BOOT, "").status is CheckStatus.OK


def test_a_settable_key_put_back_by_hand_fails() -> None:
    rows = (("net.ipv4.conf.all.log_martians", "writable", "0"), *IN_FORCE[1:])
    result = judge_sysctl(PATH, FILE, live(*rows), BOOT, "")
    assert result.status is CheckStatus.FAIL, result
    assert result.summary == "net.ipv4.conf.all.log_martians is 0, not 1"
    assert "sysctl -w" in result.hint and "apply the kernel-hardening step again" in result.hint


def test_a_later_file_that_overrides_at_boot_fails() -> None:
    boot = BOOT + "# /etc/sysctl.d/99-local.conf\nkernel.kptr_restrict = 0\n"
    result = judge_sysctl(PATH, FILE, live(*IN_FORCE), boot, "")
    assert result.status is CheckStatus.FAIL, result
    assert "kernel.kptr_restrict is set to 0 by /etc/sysctl.d/99-local.conf" in result.summary


def test_a_congestion_control_the_kernel_lacks_fails_naming_what_it_offers() -> None:
    text = "net.ipv4.tcp_congestion_control = bbr\n"
    rows = live(("net.ipv4.tcp_congestion_control", "writable", "cubic"))
    result = judge_sysctl(PATH, text, rows, f"# {PATH}\n{text}", "reno cubic")
    assert result.status is CheckStatus.FAIL
    assert "this kernel has no bbr congestion control (it offers reno cubic)" in result.summary


def test_a_missing_drop_in_fails() -> None:
    result = judge_sysctl(PATH, f"cat: {PATH}: No such file or directory", "", "", "")
    assert result.status is CheckStatus.FAIL
    assert "sets nothing" in result.summary


def test_the_script_parses_and_quotes_the_path() -> None:
    text = str(sysctl_script(PATH))
    assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0
    assert "printf" in text and PATH in text


def render(**answers: object) -> str:
    values = {"bbr": True, "tcp_buffers": "kernel", **answers}
    return render_template(KERNEL, "99-vps-wizard-kernel.conf.j2", {"answers": values})


def test_the_drop_in_follows_the_answers() -> None:
    plain = settings(render(bbr=False))
    assert plain["kernel.kptr_restrict"] == "2"
    assert plain["net.ipv6.conf.all.accept_source_route"] == "0"
    assert "net.ipv4.tcp_congestion_control" not in plain
    assert "net.core.rmem_max" not in plain
    tuned = settings(render(tcp_buffers="16MiB"))
    assert tuned["net.ipv4.tcp_congestion_control"] == "bbr"
    assert tuned["net.core.default_qdisc"] == "fq"
    assert tuned["net.ipv4.tcp_rmem"] == "4096 131072 16777216"


@pytest.mark.parametrize(
    ("kernel", "proposed"),
    [
        ("4.19.0-26-amd64", True),
        ("5.4.0-150-generic", True),
        ("5.6.0", False),
        ("5.10.0-28-amd64", False),
        ("6.1.0-18-amd64", False),
        ("6.18.44-fc-v1300", False),
        ("", False),
    ],
)
def test_haveged_is_proposed_only_before_5_6(kernel: str, proposed: bool) -> None:
    default = ENTROPY.question("haveged").default or ""
    assert evaluate(ENTROPY, default, {"facts": SimpleNamespace(kernel=kernel)}) is proposed


def test_both_steps_come_after_fail2ban_and_before_web() -> None:
    ids = [step.id for step in CATALOG.steps]
    assert ids.index("fail2ban") < ids.index("kernel-hardening") < ids.index("entropy")
    assert ids.index("entropy") < ids.index("web")
    assert KERNEL.requires == ("base",) and ENTROPY.requires == ("base",)


@pytest.mark.parametrize(
    ("listed", "proposed"),
    [
        ("reno cubic bbr", True),
        # Not loaded yet, but its module is installed: setting the sysctl loads it.
        ("reno cubic bbr htcp", True),
        ("reno cubic", False),
        ("", False),
    ],
)
def test_bbr_is_proposed_only_when_the_kernel_has_it(listed: str, proposed: bool) -> None:
    facts = SimpleNamespace(congestion_controls=congestion_controls(listed))
    default = KERNEL.question("bbr").default or ""
    assert evaluate(KERNEL, default, {"facts": facts}) is proposed


def test_the_facts_list_the_loaded_and_the_loadable_congestion_controls(tmp_path) -> None:
    # The facts script's own lines, run by a shell against a stand-in /proc and /lib/modules.
    script = str(facts_script([]))
    found = re.search(r'^cc=.*?^echo "congestion=.*?"$', script, re.MULTILINE | re.DOTALL)
    assert found, script
    lines = found.group(0)
    modules = tmp_path / "lib/modules/6.1.0-18-amd64/kernel/net/ipv4"
    modules.mkdir(parents=True)
    (modules / "tcp_bbr.ko.xz").write_bytes(b"")
    (modules / "tcp_htcp.ko").write_bytes(b"")
    (modules / "tcp_diag.ko").write_bytes(b"")
    proc = tmp_path / "available"
    proc.write_text("reno cubic\n")
    shell = "kernel=6.1.0-18-amd64\n" + lines.replace(
        "/proc/sys/net/ipv4/tcp_available_congestion_control", str(proc)
    ).replace("/lib/modules/", f"{tmp_path}/lib/modules/")
    out = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True).stdout
    value = out.strip().partition("=")[2]
    assert congestion_controls(value) == ("reno", "cubic", "bbr", "htcp")
