"""The parent zone of the test domain (`net.`, the registry's side), for the registrar and DS
checks: a second BIND, the test host's own binary and files, serving a zone of its own on the
host side of the machine's link (its gateway address), so the host's BIND cannot shadow it.

It runs in the machine's mount namespace but this side's network namespace: the wizard reaches
it at `host.gateway`, as it would reach a registry's server, through the `parent_resolver`
answer of the dns-zone step.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterable, Iterator

import dns.message
import dns.query

from wizard.testhost.machine import TestHost

PARENT = "net"
ROOT = "/etc/bind-parent"


class ParentZone:
    """`net.` on host.gateway:53, delegating whatever `delegate` was last given."""

    def __init__(self, host: TestHost) -> None:
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None
        self.serial = 1

    def delegate(self, records: Iterable[str]) -> None:
        """Serve the zone with these records (zone-file lines, absolute names) and restart."""
        gateway = self.host.gateway
        self.serial += 1
        zone = "\n".join(
            [
                "$TTL 60",
                f"@ IN SOA a.registry.{PARENT}. hostmaster.registry.{PARENT}. "
                f"{self.serial} 60 60 600 60",
                f"@ IN NS a.registry.{PARENT}.",
                f"a.registry.{PARENT}. IN A {gateway}",
                *records,
                "",
            ]
        )
        config = (
            f'options {{ directory "{ROOT}"; pid-file none; listen-on {{ {gateway}; }};\n'
            "  listen-on-v6 { none; }; recursion no; session-keyfile none; };\n"
            f'zone "{PARENT}" {{ type primary; file "{ROOT}/db.{PARENT}"; }};\n'
        )
        self.host.exec(f"mkdir -p {ROOT} && cat > {ROOT}/named.conf", input=config)
        self.host.exec(f"cat > {ROOT}/db.{PARENT}", input=zone)
        self.host.exec(f"named-checkzone -q {PARENT} {ROOT}/db.{PARENT}")
        self.stop()
        self.process = subprocess.Popen(
            [
                "nsenter",
                f"--target={self.host.init_pid}",
                "--mount",
                "--",
                "/usr/sbin/named",
                "-g",
                "-4",
                "-c",
                f"{ROOT}/named.conf",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_serving()

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + 15
        request = dns.message.make_query(f"{PARENT}.", "SOA")
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                response = dns.query.udp(request, self.host.gateway, timeout=0.5)
                if response.answer and response.answer[0][0].serial == self.serial:
                    return
            time.sleep(0.2)
        raise AssertionError("the parent zone's named did not start")

    def stop(self) -> None:
        """Stop the parent's named, if it runs."""
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
            self.process = None


@contextlib.contextmanager
def parent_zone(host: TestHost) -> Iterator[ParentZone]:
    """A parent zone for the test's lifetime (BIND must be installed on the host)."""
    parent = ParentZone(host)
    try:
        yield parent
    finally:
        parent.stop()
