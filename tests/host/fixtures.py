"""Pytest fixtures that boot disposable Debian 12 test hosts (see wizard/testhost/machine.py).

All of them need root (systemd-nspawn, network namespaces); without root they skip. Register
them once for the whole suite, in tests/conftest.py:

    pytest_plugins = ["tests.host.fixtures"]

(tests/host/test_testhost.py names the same plugin; pytest loads it only once.)

Machines are taken from slots (name and /30) that no other live process holds, so pytest-xdist
workers and parallel pytest runs each get their own: session hosts use 10.254.16-31.x, fresh
hosts 10.254.64-127.x; `python -m wizard.testhost up` defaults to 10.254.1.x.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from wizard.testhost.image import DEBIAN12, Distro
from wizard.testhost.machine import HostBusy, TestHost, boot, write_known_hosts

__all__ = ["fresh_testhost", "testhost", "testhost_factory", "write_known_hosts"]

SESSION_SLOTS = range(16, 32)
FRESH_SLOTS = range(64, 128)


def boot_free(
    prefix: str, slots: range, distro: Distro = DEBIAN12, provider_ipv6: bool = False
) -> TestHost:
    """Boot a machine in the first slot not held by a live process, starting at this worker's
    (`provider_ipv6`: a global IPv6 prefix on its link, eth0 managed by systemd-networkd)."""
    if os.geteuid() != 0:
        pytest.skip("the test host needs root (systemd-nspawn, network namespaces)")
    start = _worker_index() % len(slots)
    for offset in range(len(slots)):
        index = slots[(start + offset) % len(slots)]
        try:
            return boot(
                name=f"{prefix}{index}",
                subnet_index=index,
                distro=distro,
                provider_ipv6=provider_ipv6,
            )
        except HostBusy:
            continue
    raise HostBusy(f"all test host slots {prefix}{slots.start}..{slots.stop - 1} are in use")


def _worker_index() -> int:
    """pytest-xdist's worker number (gw3 -> 3), 0 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)


@pytest.fixture(scope="session")
def testhost() -> Iterator[TestHost]:
    """One pristine machine shared by the whole session (needs root). Tests must leave it
    usable; a test that breaks the machine uses `fresh_testhost`."""
    host = boot_free("vws", SESSION_SLOTS)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def testhost_factory() -> Iterator[Callable[[], TestHost]]:
    """Boot any number of extra pristine machines for one test (needs root); all are stopped
    after the test."""
    booted: list[TestHost] = []

    def make() -> TestHost:
        host = boot_free("vwf", FRESH_SLOTS)
        booted.append(host)
        return host

    try:
        yield make
    finally:
        for host in booted:
            host.stop()


@pytest.fixture
def fresh_testhost(testhost_factory: Callable[[], TestHost]) -> TestHost:
    """A pristine machine of its own for one destructive test (needs root); stopped after."""
    return testhost_factory()
