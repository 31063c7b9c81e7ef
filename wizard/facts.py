"""What the server is: OS, names, addresses, packages, services, and the wizard's own records.

Gathered in one round trip by one script; parsed into a frozen value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from wizard.aptsources import AptEntry, parse_sources, security_source_to_add
from wizard.deletedlibs import (
    DELETED_MAPS_SCRIPT,
    DeletedMap,
    parse_deleted_maps,
    services_to_restart,
)
from wizard.netfacts import NETWORK_SCRIPT, Network, parse_network
from wizard.publicscript import PublicScript
from wizard.runstatus import UNFINISHED, line_regex
from wizard.shell import Shell, sh
from wizard.sshdconfig import parse_sshd_facts

STATE_DIR = "/var/lib/vps-wizard"
SERVER_STATE = f"{STATE_DIR}/state.json"
MANIFEST = f"{STATE_DIR}/files.sha256"


@dataclass(frozen=True)
class ServerTraces:
    """What the server keeps of the wizard: its copy of the state, the journal, the manifest."""

    server_copy: bool
    runs: bool
    manifest: frozenset[str]

    @property
    def any(self) -> bool:
        """Whether vps-wizard left anything on the server."""
        return self.server_copy or self.runs or bool(self.manifest)


@dataclass(frozen=True)
class Facts:
    """The server as the wizard found it on connect."""

    os_id: str
    os_version: str
    os_pretty: str
    os_family: str
    kernel: str
    hostname: str
    fqdn: str
    timezone: str
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    client_address: str
    ssh_port: int
    login_user: str
    packages: frozenset[str]
    server_state: Mapping[str, object] = field(default_factory=dict)
    drifted_files: tuple[str, ...] = ()
    unfinished_runs: tuple[str, ...] = ()
    os_codename: str = ""
    # apt's enabled `deb` entries: the base step adds the security suite when none lists it.
    apt_sources: tuple[AptEntry, ...] = ()
    # sshd: OpenSSH version, `ssh -Q` lists, RSA host key size, config texts (wizard.sshdconfig)
    sshd: Mapping[str, object] = field(default_factory=lambda: parse_sshd_facts([]))
    # The PHP versions apt can install (php<version>-fpm in its cache), oldest first: the web
    # step offers only these. Empty when apt's lists are empty (never updated).
    php_versions: tuple[str, ...] = ()
    # Processes still mapping a library an upgrade deleted (wizard.deletedlibs): the
    # maintenance step restarts the services among them on the user's yes.
    deleted_maps: tuple[DeletedMap, ...] = ()
    # The TCP congestion controls the kernel can use: those it lists now and those a module of
    # the running kernel adds when asked (tcp_bbr loads when the sysctl names bbr).
    congestion_controls: tuple[str, ...] = ()
    # The interface the session rides on, what configures it, its IPv6 (wizard.netfacts).
    network: Network = field(default_factory=Network)
    # What the server keeps of the wizard, read with the facts (one round trip less on
    # connect); wizard.resume judges whether it backs this machine's record.
    traces: ServerTraces = field(default_factory=lambda: ServerTraces(False, False, frozenset()))

    @property
    def primary_ipv4(self) -> str:
        """The first global IPv4 address, or empty."""
        return self.ipv4[0] if self.ipv4 else ""

    def as_template_context(self) -> dict[str, object]:
        """The facts as templates and question defaults see them."""
        return {
            "os_id": self.os_id,
            "os_version": self.os_version,
            "os_family": self.os_family,
            "kernel": self.kernel,
            "hostname": self.hostname,
            "fqdn": self.fqdn,
            "timezone": self.timezone,
            "ipv4": self.ipv4,
            "ipv6": self.ipv6,
            "primary_ipv4": self.primary_ipv4,
            "client_address": self.client_address,
            "ssh_port": self.ssh_port,
            "login_user": self.login_user,
            "os_codename": self.os_codename,
            "apt_security_source": security_source_to_add(
                self.apt_sources, self.os_family, self.os_codename
            ),
            "packages": self.packages,
            "sshd": self.sshd,
            "php_versions": self.php_versions,
            "stale_services": services_to_restart(self.deleted_maps),
            "congestion_controls": self.congestion_controls,
            "network": self.network.as_template_context(),
        }


def facts_script(packages: Iterable[str]) -> PublicScript:
    """The script printing key=value lines, os-release, the server state, drift, the wizard's
    traces, the sshd facts, then the late key=value lines.

    Its slow parts run at once, each in a branch of one pipeline: apt's package names (30 to
    80 ms on a small server), the ssh binaries' own lists, the network's tools, and the rest.
    Each branch prints its own part, then copies what the branch before it printed (held in
    the pipe meanwhile), so the output comes in one fixed order and no file is written. Each
    branch's own commands read /dev/null: none can take the pipe's text for its input.

    /etc/os-release is printed, not sourced: its text is parsed here, never run. It holds
    nothing secret (the catalog's package names, the wizard's own paths): a PublicScript, which
    may open the session's pipe in its command line (wizard.remote).
    """
    script = sh(
        """\
words() {{ tr '\\n' ' '; }}
{{
echo "php_versions=$(apt-cache pkgnames php 2>/dev/null \\
  | sed -n 's/^php\\([0-9][0-9.]*\\)-fpm$/\\1/p' | words)"
}} </dev/null | {{
{{
echo @@LATE
{network}
}} </dev/null
cat
}} | {{
{{
echo @@SSHD
echo "version $(ssh -V 2>&1 | head -n 1)"
for kind in kex cipher mac; do echo "$kind $(ssh -Q "$kind" 2>/dev/null | words)"; done
echo "rsa_bits $(ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key.pub 2>/dev/null | awk '{{print $1}}')"
for f in /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf; do
  [ -f "$f" ] || continue
  echo "file $(printf %s "$f" | base64 -w0) $(head -c 65536 "$f" | base64 -w0)"
done
}} </dev/null
cat
}} | {{
{{
# The kernel's own files, read by the shell: each process less is 1 to 2 ms on a small server.
read -r kernel </proc/sys/kernel/osrelease
echo "kernel=$kernel"
read -r name </proc/sys/kernel/hostname
echo "hostname=$name"
echo "fqdn=$(hostname -f 2>/dev/null)"
# The zone /etc/localtime links to, as timedatectl shows it without waking timedated (0.1 s).
tz=$(readlink /etc/localtime 2>/dev/null); tz=${{tz#*/zoneinfo/}}
[ -n "$tz" ] || tz=$(cat /etc/timezone 2>/dev/null)
echo "timezone=$tz"
ip -o addr show scope global 2>/dev/null | awk '{{sub("/.*", "", $4); a[$3] = a[$3] $4 " "}}
  END {{print "ipv4=" a["inet"]; print "ipv6=" a["inet6"]}}'
echo "client=${{1%% *}}"
case $1 in *" "*" "*" "*) echo "ssh_port=${{1##* }}" ;; *) echo "ssh_port=" ;; esac
echo "login_user=${{SUDO_USER:-$(id -un)}}"
echo "packages=$(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' {packages} 2>/dev/null \\
  | awk '$1=="ii"{{printf "%s ", $2}}')"
echo "unfinished=$(grep -l -s -E {unfinished} {runs}/*/status \\
  | awk -F/ '{{printf "%s ", $(NF-1)}}')"
# Those the kernel lists, then those a module of it adds (tcp_NAME.ko, compressed or not).
cc=; {{ read -r cc </proc/sys/net/ipv4/tcp_available_congestion_control; }} 2>/dev/null
modules=
for f in "/lib/modules/$kernel/kernel/net/ipv4/"tcp_*.ko*; do
  f=${{f##*/tcp_}}; f=${{f%%.ko*}}
  case $f in *[!a-z0-9]*) ;; *) modules="$modules$f " ;; esac
done
echo "congestion=$cc $modules"
{deleted} | sed 's/^/deleted_map=/'
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && echo "apt_source=$(printf %s "$f" | base64 -w0) $(head -c 65536 "$f" | base64 -w0)"
done
echo @@OS-RELEASE
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo
echo @@STATE
cat {state} 2>/dev/null
echo
echo @@DRIFT
[ -f {manifest} ] && sha256sum --quiet -c {manifest} 2>/dev/null | sed -n 's/: FAILED.*$//p'
echo @@TRACES
{traces}
}} </dev/null
cat
}}
true
""",
        packages=sorted(set(packages)),
        runs=f"{STATE_DIR}/runs",
        unfinished=line_regex(*UNFINISHED),
        state=SERVER_STATE,
        manifest=MANIFEST,
        network=NETWORK_SCRIPT,
        deleted=DELETED_MAPS_SCRIPT,
        traces=traces_script(),
    )
    return PublicScript(script)


def traces_script() -> Shell:
    """Whether the server copy and runs exist, then the manifest's paths."""
    return sh(
        "[ -s {state} ] && echo @@COPY\n"
        "ls -A {runs} 2>/dev/null | grep -q . && echo @@RUNS\n"
        "echo @@MANIFEST\n"
        "[ -f {m} ] && sed -n 's/^[0-9a-f]*[ ][ *]//p' {m}\ntrue",
        state=SERVER_STATE,
        runs=f"{STATE_DIR}/runs",
        m=MANIFEST,
    )


def parse_traces(output: str) -> ServerTraces:
    """What traces_script printed."""
    head, _, manifest = output.partition("@@MANIFEST\n")
    paths = frozenset(line for line in manifest.splitlines() if line.startswith("/"))
    return ServerTraces("@@COPY" in head, "@@RUNS" in head, paths)


def parse_os_release(text: str) -> dict[str, str]:
    """os-release's KEY=value lines (values maybe quoted, as the format allows), as text."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.strip().partition("=")
        if not sep or not key.replace("_", "").isalnum():
            continue
        try:
            words = shlex.split(raw, comments=False, posix=True)
        except ValueError:
            continue
        values[key] = " ".join(words)
    return values


def parse_facts(output: str) -> Facts:
    """Turn the facts script's output into Facts."""
    head, _, rest = output.partition("@@OS-RELEASE\n")
    release_text, _, rest = rest.partition("@@STATE\n")
    state_text, _, rest = rest.partition("@@DRIFT\n")
    drift_text, _, rest = rest.partition("@@SSHD\n")
    drift_text, _, traces_text = drift_text.partition("@@TRACES\n")
    sshd_text, _, late = rest.partition("@@LATE\n")
    values: dict[str, str] = {}
    for line in (*head.splitlines(), *late.splitlines()):
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value.strip()
    release = parse_os_release(release_text)
    values.update(
        os_id=release.get("ID", ""),
        os_version=release.get("VERSION_ID", ""),
        os_pretty=release.get("PRETTY_NAME", ""),
        os_codename=release.get("VERSION_CODENAME", "") or release.get("UBUNTU_CODENAME", ""),
        os_like=release.get("ID_LIKE", ""),
    )
    try:
        server_state = json.loads(state_text) if state_text.strip() else {}
    except json.JSONDecodeError:
        server_state = {}
    like = values.get("os_like", "").split()
    os_id = values.get("os_id", "")
    family = (
        os_id
        if os_id in ("debian", "ubuntu")
        else next((f for f in ("ubuntu", "debian") if f in like), os_id)
    )
    return Facts(
        os_id=os_id,
        os_version=values.get("os_version", ""),
        os_pretty=values.get("os_pretty", ""),
        os_family=family,
        kernel=values.get("kernel", ""),
        hostname=values.get("hostname", ""),
        fqdn=values.get("fqdn", ""),
        timezone=values.get("timezone", "") or "Etc/UTC",
        ipv4=tuple(values.get("ipv4", "").split()),
        ipv6=tuple(values.get("ipv6", "").split()),
        client_address=values.get("client", ""),
        ssh_port=int(values.get("ssh_port") or 22),
        login_user=values.get("login_user", ""),
        packages=frozenset(values.get("packages", "").split()),
        server_state=server_state if isinstance(server_state, dict) else {},
        drifted_files=tuple(line for line in drift_text.splitlines() if line.strip()),
        unfinished_runs=tuple(values.get("unfinished", "").split()),
        os_codename=values.get("os_codename", ""),
        apt_sources=parse_sources(_apt_source_files(head)),
        sshd=parse_sshd_facts(sshd_text.splitlines()),
        php_versions=php_versions(values.get("php_versions", "")),
        deleted_maps=parse_deleted_maps(
            line.removeprefix("deleted_map=")
            for line in head.splitlines()
            if line.startswith("deleted_map=")
        ),
        congestion_controls=congestion_controls(values.get("congestion", "")),
        network=parse_network(values),
        traces=parse_traces(traces_text),
    )


def congestion_controls(listed: str) -> tuple[str, ...]:
    """The names the script listed, each once, in order; only lower-case words (a template
    compares them, nothing runs them). tcp_diag is the one tcp_ module that is no congestion
    control (it serves `ss`)."""
    names = [
        name for name in listed.split() if re.fullmatch(r"[a-z0-9_]+", name) and name != "diag"
    ]
    return tuple(dict.fromkeys(names))


def php_versions(listed: str) -> tuple[str, ...]:
    """The versions the script listed, checked (digits and dots only: the choices reach a
    path and a package name) and ordered by number, oldest first."""
    versions = {word for word in listed.split() if re.fullmatch(r"[0-9]+(\.[0-9]+)*", word)}
    return tuple(sorted(versions, key=lambda v: tuple(int(part) for part in v.split("."))))


def _apt_source_files(head: str) -> list[tuple[str, str]]:
    """The `apt_source=PATH CONTENT` lines (both base64) as (path, text); damaged ones skipped."""
    files = []
    for line in head.splitlines():
        if not line.startswith("apt_source="):
            continue
        path, _, content = line.removeprefix("apt_source=").partition(" ")
        try:
            files.append(
                (
                    base64.b64decode(path).decode(errors="replace"),
                    base64.b64decode(content).decode(errors="replace"),
                )
            )
        except (binascii.Error, ValueError):
            continue
    return files
