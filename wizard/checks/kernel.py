"""The kernel-hardening step's check: every key of its sysctl drop-in holds the drop-in's value,
now and at boot.

A key the kernel will not let the server change is not the step's failure: inside a container
(LXC, OpenVZ, systemd-nspawn) /proc/sys is the host's and most kernel.* keys are read-only. Such
a key is reported as "set by the host, not settable here" with the reason, a warning. A key the
server could set but that holds another value (put back by hand with `sysctl -w`, or never
applied) fails, as does a later sysctl.d file that would set it again at boot.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    fail,
    marker,
    ok,
    run_sections,
    warn,
)
from wizard.checks.params import safe_path
from wizard.shell import Shell, code, script, sh

CHECK_ID = "kernel.sysctl"
RERUN = "apply the kernel-hardening step again (it runs sysctl --system)"
# A `key = value` line of a sysctl.d file; a leading '-' only tells sysctl to ignore failures.
SETTING = re.compile(r"^\s*-?([A-Za-z0-9_.]+)\s*=\s*(.*?)\s*$")
CONGESTION = "net.ipv4.tcp_congestion_control"


class KeyState(enum.StrEnum):
    """Whether the server can set a key, as the script prints it."""

    WRITABLE = "writable"
    RO_MOUNT = "ro-mount"
    REFUSED = "refused"
    ABSENT = "absent"


# Why the server cannot set a key, by its state.
REASONS = {
    KeyState.RO_MOUNT: "/proc/sys is mounted read-only: a container's kernel belongs to its host",
    KeyState.REFUSED: "the kernel refuses writes to it here",
    KeyState.ABSENT: "this kernel has no such key (or hides it from this network namespace)",
}


@dataclass(frozen=True)
class Live:
    """One key of the drop-in as the server has it now."""

    key: str
    state: KeyState
    value: str


def sysctl_script(path: str) -> Shell:
    """The drop-in, each of its keys' state and value now, what the boot applies, the
    congestion controls the kernel offers."""
    return script(
        marker("FILE"),
        sh("cat {f} 2>&1", f=path),
        marker("LIVE"),
        # Each key of the drop-in: its state (what stops the server setting it), its value now.
        sh(
            r"sed -n -E 's/^[[:space:]]*-?([A-Za-z0-9_.]+)[[:space:]]*=.*/\1/p' {f} 2>/dev/null"
            " | while read -r key; do"
            ' p=/proc/sys/$(printf %s "$key" | tr . /);'
            ' if [ ! -e "$p" ]; then s=absent;'
            ' elif [ -w "$p" ]; then s=writable;'
            " elif findmnt -n -o OPTIONS --target \"$p\" | grep -qE '(^|,)ro(,|$)';"
            " then s=ro-mount;"
            " else s=refused; fi;"
            ' printf "%s\\t%s\\t%s\\n" "$key" "$s" "$(echo $(cat "$p" 2>/dev/null))";'
            " done",
            f=path,
        ),
        marker("BOOT"),
        code("systemd-analyze cat-config sysctl.d 2>/dev/null"),
        marker("AVAILABLE"),
        code("cat /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null"),
        code("true"),
    )


def settings(text: str) -> dict[str, str]:
    """A sysctl.d text's settings, the last of each key, values with single spaces."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith(("#", ";")):
            continue
        match = SETTING.match(line)
        if match:
            found[match.group(1)] = " ".join(match.group(2).split())
    return found


def boot_settings(cat_config: str) -> dict[str, tuple[str, str]]:
    """What the boot applies, from `systemd-analyze cat-config sysctl.d`: the last value of
    each key and the file it comes from."""
    found: dict[str, tuple[str, str]] = {}
    source = ""
    for line in cat_config.splitlines():
        if line.startswith("# /"):
            source = line[2:].strip()
            continue
        if line.lstrip().startswith(("#", ";")):
            continue
        match = SETTING.match(line)
        if match:
            found[match.group(1)] = (" ".join(match.group(2).split()), source)
    return found


def parse_live(text: str) -> dict[str, Live]:
    """The script's `key<TAB>state<TAB>value` lines."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] in set(KeyState):
            found[parts[0]] = Live(parts[0], KeyState(parts[1]), " ".join(parts[2].split()))
    return found


def judge_sysctl(
    path: str, file_text: str, live_text: str, boot_text: str, available: str
) -> CheckResult:
    """Each key of the drop-in: ok when it holds the value (or the host already gives it);
    warn when the server cannot set it; fail when it could but does not, or when a later file
    sets it again at boot."""
    wanted = settings(file_text)
    if not wanted:
        return fail(
            CHECK_ID,
            f"{path} sets nothing",
            file_text[-500:],
            f"{RERUN}: it writes the drop-in",
        )
    live = parse_live(live_text)
    boot = boot_settings(boot_text)
    lines: list[str] = []
    failures: list[str] = []
    held: dict[KeyState, list[str]] = {}
    for key, want in wanted.items():
        now = live.get(key, Live(key, KeyState.ABSENT, ""))
        at_boot, source = boot.get(key, (want, path))
        state = "" if now.state is KeyState.WRITABLE else f" ({now.state})"
        lines.append(f"{key} = {now.value or '?'} now{state}, {want} in the drop-in")
        if at_boot != want and source != path:
            failures.append(f"{key} is set to {at_boot} by {source}, read after the drop-in")
        elif key == CONGESTION and want not in available.split():
            failures.append(f"this kernel has no {want} congestion control (it offers {available})")
        elif now.value == want:
            continue
        elif now.state is KeyState.WRITABLE:
            failures.append(f"{key} is {now.value}, not {want}")
        else:
            held.setdefault(now.state, []).append(f"{key} is {now.value or 'unreadable'}")
    evidence = "\n".join(lines)
    if failures:
        return fail(
            CHECK_ID,
            "; ".join(failures),
            evidence,
            f"{RERUN}; a value put back by hand (sysctl -w) or a later file in /etc/sysctl.d "
            "undoes the drop-in, and a congestion control the kernel lacks must be answered no",
        )
    if held:
        return warn(
            CHECK_ID,
            "set by the host, not settable here: "
            + "; ".join(f"{', '.join(keys)} ({REASONS[state]})" for state, keys in held.items()),
            evidence,
            "nothing to do on this server; a virtual machine of its own (KVM) lets it set them",
        )
    return ok(CHECK_ID, f"the {len(wanted)} kernel settings of {path} are in force", evidence)


@check(CHECK_ID)
def sysctl_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """Every key of the drop-in holds its value, or the host holds it."""
    path = str(params["file"])
    if not safe_path(path):
        return fail(CHECK_ID, f"not a plain absolute path: {path!r}", hint="fix the step's file")
    sections = run_sections(ctx, sysctl_script(path))
    return judge_sysctl(
        path,
        sections.get("FILE", ""),
        sections.get("LIVE", ""),
        sections.get("BOOT", ""),
        sections.get("AVAILABLE", ""),
    )
