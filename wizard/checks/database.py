"""Checks of the database step: MariaDB secured as mysql_secure_installation would, InnoDB only,
local only; and from the outside, port 3306 does not answer.

The server side is one round trip: the queries run as root through the unix socket
(`mariadb -N -e`), and `ss` says where mariadbd listens.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any

from wizard.checks.base import (
    CheckContext,
    CheckResult,
    check,
    exit_code,
    fail,
    marker,
    ok,
    run_sections,
    warn,
)
from wizard.probes.sshconfig import server_host
from wizard.probes.tcp import SILENT_TRIES, probe_tcp, server_addresses, silence_waits
from wizard.shell import code, script, sh

RERUN_DATABASE = "run the database step again"
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
NOT_FOUND = 127
# Passwords that can never match: Debian's 'invalid' placeholder, and an account lock.
UNUSABLE_SECRETS = ("invalid",)

_SYSTEM_LIST = ", ".join(f"'{name}'" for name in SYSTEM_SCHEMAS)
# Each query reaches mariadb as one quoted word: the SQL is text, not shell.
ROOT_SQL = "SELECT User, Host, Priv FROM mysql.global_priv WHERE User = 'root'"
ANONYMOUS_SQL = "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = ''"
TESTDB_SQL = (
    "SELECT schema_name FROM information_schema.schemata "
    "WHERE schema_name = 'test' OR schema_name LIKE 'test\\_%'"
)
ENGINE_SQL = "SELECT @@default_storage_engine"
MYISAM_SQL = (
    "SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables "
    f"WHERE engine = 'MyISAM' AND table_schema NOT IN ({_SYSTEM_LIST})"
)
SECURE_SCRIPT = script(
    marker("ACTIVE"),
    code("systemctl is-active mariadb 2>&1"),
    marker("ROOT"),
    sh("mariadb -N -B -e {sql} 2>&1", sql=ROOT_SQL),
    code("rc=$?"),
    marker("RC"),
    code('echo "$rc"'),
    marker("ANONYMOUS"),
    sh("mariadb -N -B -e {sql} 2>&1", sql=ANONYMOUS_SQL),
    marker("TESTDB"),
    sh("mariadb -N -B -e {sql} 2>&1", sql=TESTDB_SQL),
    marker("ENGINE"),
    sh("mariadb -N -B -e {sql} 2>&1", sql=ENGINE_SQL),
    marker("MYISAM"),
    sh("mariadb -N -B -e {sql} 2>&1", sql=MYISAM_SQL),
    marker("LISTEN"),
    code("ss -ltnpH 2>&1 | grep -E '\"(mariadbd|mysqld)\"'"),
    code("true"),
)


def root_problems(rows: str) -> list[str]:
    """Why root could log in otherwise than through the unix socket (one reason per account).

    `rows` are `User<TAB>Host<TAB>Priv-JSON` lines of mysql.global_priv. An account's ways in
    are its top-level plugin and each alternative of `auth_or` (`{}` stands for the top one); a
    way other than unix_socket is harmless only when its secret can never match.
    """
    problems = []
    for line in rows.splitlines():
        user, _, rest = line.partition("\t")
        host, _, priv_text = rest.partition("\t")
        if not priv_text:
            continue
        account = f"{user}@{host}"
        try:
            priv = json.loads(priv_text)
        except json.JSONDecodeError:
            problems.append(f"{account}: unreadable privileges")
            continue
        if host != "localhost":
            problems.append(f"{account} exists (root from another host)")
        methods = [priv, *(m for m in priv.get("auth_or", ()) if m)]
        for method in methods:
            plugin = method.get("plugin", "mysql_native_password")
            secret = method.get("authentication_string", "")
            if plugin == "unix_socket" or secret in UNUSABLE_SECRETS:
                continue
            problems.append(
                f"{account} can log in with {plugin}"
                + (" and an empty password" if not secret else " and a password")
            )
    return problems


def listen_addresses(ss_output: str) -> list[str]:
    """The local address:port of each line `ss -ltnpH` printed."""
    addresses = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "LISTEN":
            addresses.append(fields[3])
    return addresses


def is_loopback(address_port: str) -> bool:
    """Whether an ss local address (127.0.0.1:3306, [::1]:3306, *:3306) is loopback only."""
    host = address_port.rpartition(":")[0].strip("[]").split("%")[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*' or a name: every address


def judge_secure(
    active: str,
    root_rows: str,
    query_rc: int,
    anonymous: str,
    test_dbs: str,
    engine: str,
    myisam: str,
    listen: str,
) -> CheckResult:
    """MariaDB runs; root only through the unix socket; no anonymous account, no test
    database; InnoDB by default and no MyISAM user table; listening on loopback only."""
    cid = "database.secure"
    state = active.strip().splitlines()[-1] if active.strip() else "(unknown)"
    if query_rc == NOT_FOUND:
        return fail(
            cid,
            "MariaDB is not installed",
            "mariadb: command not found",
            f"{RERUN_DATABASE}: it installs mariadb-server",
        )
    if state != "active" or query_rc != 0:
        return fail(
            cid,
            f"MariaDB is {state}" + ("" if state != "active" else ", and root cannot query it"),
            f"mariadb.service: {state}\n{root_rows.strip()[-400:]}",
            "sudo systemctl start mariadb; if it fails, sudo journalctl -u mariadb -n 30 says "
            "why; if root cannot log in through the socket, run the database step again",
        )
    addresses = listen_addresses(listen)
    anonymous_accounts = [line.strip() for line in anonymous.splitlines() if line.strip()]
    databases = [line.strip() for line in test_dbs.splitlines() if line.strip()]
    tables = [line.strip() for line in myisam.splitlines() if line.strip()]
    engine = engine.strip() or "(unknown)"
    exposed = [a for a in addresses if not is_loopback(a)]
    roots = root_problems(root_rows)
    evidence = "\n".join(
        [
            "mariadb.service: active",
            "root: " + ("; ".join(roots) if roots else "unix_socket only"),
            f"anonymous accounts: {', '.join(anonymous_accounts) or 'none'}",
            f"test databases: {', '.join(databases) or 'none'}",
            f"default storage engine: {engine}",
            f"MyISAM user tables: {', '.join(tables[:10]) or 'none'}"
            + (f" and {len(tables) - 10} more" if len(tables) > 10 else ""),
            f"listening on: {', '.join(addresses) or 'no TCP port (socket only)'}",
        ]
    )
    problems, hints = [], []
    if exposed:
        problems.append(f"MariaDB listens on {', '.join(exposed)}, not only on 127.0.0.1")
        hints.append(
            "a file read after /etc/mysql/mariadb.conf.d/90-vps-wizard.cnf sets another "
            "bind-address: sudo grep -rn bind-address /etc/mysql/, remove it, then "
            "sudo systemctl restart mariadb (or run the database step again)"
        )
    others = []
    if roots:
        others.append("root can log in otherwise than through the unix socket")
    if anonymous_accounts:
        others.append(f"{len(anonymous_accounts)} anonymous account(s)")
    if databases:
        others.append(f"the {', '.join(databases)} database(s) exist")
    if engine.lower() != "innodb":
        others.append(f"the default storage engine is {engine}")
    if tables:
        others.append(f"{len(tables)} MyISAM table(s)")
    if others:
        problems += others
        hints.append(
            f"{RERUN_DATABASE}: it sets root to unix_socket only, drops anonymous accounts and "
            "the test database, and converts MyISAM tables to InnoDB (back up first: "
            "sudo mariadb-dump --all-databases > all.sql)"
        )
    if problems:
        return fail(cid, "; ".join(problems), evidence, "; ".join(hints))
    return ok(cid, "MariaDB is secured, InnoDB only, and local only", evidence)


@check("database.secure")
def secure_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """MariaDB as mysql_secure_installation leaves it, InnoDB only, on loopback only."""
    sections = run_sections(ctx, SECURE_SCRIPT)
    return judge_secure(
        sections.get("ACTIVE", ""),
        sections.get("ROOT", ""),
        exit_code(sections.get("RC", "")),
        sections.get("ANONYMOUS", ""),
        sections.get("TESTDB", ""),
        sections.get("ENGINE", ""),
        sections.get("MYISAM", ""),
        sections.get("LISTEN", ""),
    )


# ----------------------------------------------------------------------------- not_exposed

PROBE_TIMEOUT = 3.0  # the longest silence awaited (see wizard.probes.tcp.silence_wait)


def judge_not_exposed(port: int, seen: Sequence[tuple[str, str, str]]) -> CheckResult:
    """No address of the server accepts a TCP connection on the database port from here.

    `seen` holds (address, state, detail) with the states of firewall.probe_tcp.
    """
    cid = "database.not_exposed"
    evidence = "\n".join(
        f"{port}/tcp on {address}: {state}" + (f" ({detail})" if detail else "")
        for address, state, detail in seen
    )
    opened = [address for address, state, _ in seen if state == "open"]
    if opened:
        return fail(
            cid,
            f"the database port {port} answers from the outside on {', '.join(opened)}",
            evidence,
            "bind MariaDB to 127.0.0.1 (run the database step again; sudo grep -rn "
            "bind-address /etc/mysql/ finds a file overriding it) and keep the port out of "
            "the firewall's extra ports",
        )
    if seen and all(state == "unreachable" for _, state, _ in seen):
        return warn(
            cid,
            "the server could not be reached from here to try the database port",
            evidence,
            "run verify from a machine that reaches the server's own address",
        )
    return ok(cid, f"port {port} does not answer from the outside", evidence)


@check("database.not_exposed")
def not_exposed_check(ctx: CheckContext, params: Mapping[str, Any]) -> CheckResult:
    """From the wizard's machine, a TCP connection to the database port fails, IPv4 and IPv6."""
    port = int(params.get("port", 3306))
    addresses = server_addresses(server_host(ctx.address), ctx.facts.ipv6)
    if any(ipaddress.ip_address(a).is_loopback for a in addresses):
        return warn(
            "database.not_exposed",
            "not tried: the wizard reaches the server through a local forward",
            f"{ctx.address} is a loopback address",
            "run verify from a machine that reaches the server's own address",
        )
    waits = silence_waits(addresses, ctx.reach_port(), PROBE_TIMEOUT)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(addresses))) as pool:
        futures = [pool.submit(probe_tcp, a, port, waits[a], SILENT_TRIES) for a in addresses]
        seen = [(a, *f.result()) for a, f in zip(addresses, futures, strict=True)]
    return judge_not_exposed(port, seen)
