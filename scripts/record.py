"""Record what real test hosts answer to the engine's scripts, for the unit tests' playback.

    sudo PYTHONPATH=. .venv/bin/python scripts/record.py                every scenario
    sudo PYTHONPATH=. .venv/bin/python scripts/record.py SCENARIO ...   some of them
    ... scripts/record.py [SCENARIO ...] --into DIR                    elsewhere (to compare)

Each scenario boots a pristine test host (root, systemd-nspawn: see wizard/testhost), shapes
it (a provider's image, steps applied, a run left unfinished), then drives a Session through a
wizard.recorded.Recording exactly as tests/unit/test_recorded_*.py drive the playback, and
writes tests/unit/recordings/NAME.json (the `about` in each says what the server was). Run it
again when the engine's scripts change (a unit test then fails with "holds no answer to the
script"), review `git diff tests/unit/recordings`, commit both together. About a minute in all."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.apply import apply_plan
from wizard.catalog import load_catalog
from wizard.checks import load_all_checks
from wizard.endpoint import Credentials, Stats, Target
from wizard.facts import parse_facts
from wizard.journal import new_run_id
from wizard.recorded import Recording
from wizard.remote import Remote
from wizard.session import ConnectOptions, Session
from wizard.state import StateStore, StepRecord
from wizard.testhost.image import DEBIAN12, UBUNTU2404, Distro
from wizard.testhost.machine import HostBusy, TestHost, boot, write_known_hosts

REPO = Path(__file__).resolve().parents[1]
RECORDINGS = REPO / "tests" / "unit" / "recordings"
# Out of the ranges the host fixtures (16-31, 64-127) and `testhost up` (1) use.
SLOTS = range(250, 255)
# The guard's timer of the run left unfinished: far longer than recording takes, so the run
# is still "awaiting-confirm" (not reverted by its timer) when the recorded session arrives.
LONG_GUARD = 1800


def answers(step_id: str) -> dict[str, Any]:
    """The day-one example's answers to a step (the unit tests plan with the same ones);
    base without the full upgrade, which only slows an apply down."""
    day_one = tomllib.loads((REPO / "examples" / "day-one.toml").read_text())
    raw = dict(day_one[step_id])
    if step_id == "base":
        raw["upgrade"] = False
    return raw


def key(host: TestHost) -> Credentials:
    """The test host's key: root's, and the admin's once admin-user gave it to the admin."""
    return Credentials(str(host.root_key_path))


@dataclass
class Laptop:
    """One machine's files (known_hosts, state database) for one test host."""

    host: TestHost
    home: Path

    def session(self, user: str = "root", record: bool = False) -> tuple[Session, Recording | None]:
        """A connected, refreshed Session; through a Recording when asked."""
        known = self.home / "known_hosts"
        if not known.exists():
            write_known_hosts(self.host, known)
        options = ConnectOptions(
            Target(self.host.address, user),
            key(self.host),
            known,
            guard_seconds=LONG_GUARD,
        )
        remote = Remote.connect(options.target, options.credentials, known, stats=Stats())
        recording = Recording(remote) if record else None
        store = StateStore(self.home / "state.db")
        host, _ = store.identify(remote.host_fingerprint, self.host.address, self.host.port)
        session = Session(
            load_catalog(), store, options, recording or remote, parse_facts(""), host
        )
        session.refresh()
        return session, recording


@dataclass(frozen=True)
class Recorded:
    """One recording file: its name, what the server was and what was done, the exchanges."""

    name: str
    about: str
    recording: Recording


def fresh(laptop: Laptop, name: str, about: str) -> list[Recorded]:
    """A pristine server: its facts, and the plan of the base step."""
    session, recording = laptop.session(record=True)
    session.plan("base", answers("base"))
    assert recording is not None
    return [Recorded(name, about, recording)]


def debian12_fresh(laptop: Laptop) -> list[Recorded]:
    made = fresh(laptop, "debian12-fresh", "a pristine Debian 12: facts, plan of base")
    # A laptop whose record says base is applied on this server, which has no trace of it.
    other = Laptop(laptop.host, laptop.home / "other")
    other.home.mkdir()
    store = StateStore(other.home / "state.db")
    known = write_known_hosts(laptop.host, other.home / "known_hosts")
    looked = Remote.connect(Target(laptop.host.address, "root"), key(laptop.host), known)
    looked.close()
    record, _ = store.identify(looked.host_fingerprint, laptop.host.address, laptop.host.port)
    claimed = StepRecord("base", "applied", answers("base"), {"/etc/hostname": "0" * 64}, 1.0)
    store.save_host(dataclasses.replace(record, steps={"base": claimed}))
    _, recording = other.session(record=True)
    assert recording is not None
    about = (
        "a pristine Debian 12 reached by a laptop whose record says base was applied there "
        "(reinstalled or reset): facts, the server's traces of the wizard"
    )
    return [*made, Recorded("debian12-reset", about, recording)]


def ubuntu2404_fresh(laptop: Laptop) -> list[Recorded]:
    return fresh(laptop, "ubuntu2404-fresh", "a pristine Ubuntu 24.04: facts, plan of base")


def provider(laptop: Laptop) -> list[Recorded]:
    """A provider's image (tests/host/test_whole_series.py): root and passwords allowed by a
    drop-in that sorts first and a line above the Include, no security source for apt."""
    laptop.host.exec(
        "printf 'PermitRootLogin yes\\nPasswordAuthentication yes\\n' "
        "> /etc/ssh/sshd_config.d/00-provider.conf && "
        "sed -i '1i PasswordAuthentication yes' /etc/ssh/sshd_config && "
        "sed -i /-security/d /etc/apt/sources.list && "
        "rm -f /etc/apt/sources.list.d/*.sources /var/lib/apt/lists/*security* && "
        "systemctl reload ssh"
    )
    laptop.host.wait_for_ssh()  # sshd re-executes itself on reload: a moment without a listener
    return fresh(
        laptop,
        "debian12-provider",
        "a Debian 12 shaped like a provider's image (00-provider.conf allows root and "
        "passwords, a line above the Include allows passwords, no security source): facts, "
        "plan of base",
    )


def unfinished(laptop: Laptop) -> list[Recorded]:
    """base and admin-user applied and verified from one laptop (the server holds its copy of
    the state), then ssh-hardening applied and left waiting for its guard's confirmation by a
    wizard that went away. Another laptop connects as the admin twice: while the run's revert
    timer runs (the run is left to its owner), then once the timer is gone, as after a reboot
    of the server during the wait (the run is undone); then it plans ssh-hardening again."""
    load_all_checks()  # the verify below runs them
    first, _ = laptop.session()
    public_key = Path(str(laptop.host.root_key_path) + ".pub").read_text().strip()
    first.apply(first.plan("base", answers("base")), print)
    first.apply(first.plan("admin-user", {**answers("admin-user"), "public_key": public_key}))
    first.verify(["base", "admin-user"])
    plan = first.plan("ssh-hardening", answers("ssh-hardening"))
    run_id = new_run_id()
    outcome = apply_plan(first.remote, plan, run_id, LONG_GUARD, print)
    assert outcome.status == "awaiting-confirm", outcome
    first.close()
    other = Laptop(laptop.host, laptop.home / "other")
    other.home.mkdir()
    _, waiting = other.session(user="admin", record=True)
    assert waiting is not None
    waiting.close()
    laptop.host.exec(f"systemctl stop vps-wizard-revert-{run_id}.timer")
    session, recording = other.session(user="admin", record=True)
    session.plan("ssh-hardening", answers("ssh-hardening"))
    assert recording is not None
    return [
        Recorded(
            "debian12-run-waiting",
            "Debian 12 with base and admin-user applied and verified from another laptop, "
            "and an ssh-hardening run awaiting its guard's confirmation, its revert timer "
            "running: connect as admin (facts, the server's copy, the run left alone)",
            waiting,
        ),
        Recorded(
            "debian12-interrupted",
            "the same server once the run's revert timer is gone (as after a reboot during "
            "the wait): connect as admin (facts, the server's copy, the run undone), plan "
            "ssh-hardening",
            recording,
        ),
    ]


def day_one(laptop: Laptop) -> list[Recorded]:
    """base, admin-user, ssh-hardening (confirmed from a new session) and firewall applied and
    verified from one laptop; another laptop connects as the admin and plans fail2ban (not
    applied yet) and firewall again with a port more."""
    load_all_checks()  # the verify below runs them
    first, _ = laptop.session()
    public_key = Path(str(laptop.host.root_key_path) + ".pub").read_text().strip()
    first.apply(first.plan("base", answers("base")))
    first.apply(first.plan("admin-user", {**answers("admin-user"), "public_key": public_key}))
    first.apply(first.plan("ssh-hardening", answers("ssh-hardening")))
    first.apply(first.plan("firewall", answers("firewall")))
    first.verify(["base", "admin-user", "ssh-hardening", "firewall"])
    first.close()
    other = Laptop(laptop.host, laptop.home / "other")
    other.home.mkdir()
    session, recording = other.session(user="admin", record=True)
    session.plan("fail2ban", answers("fail2ban"))
    session.plan("firewall", {**answers("firewall"), "extra_ports": "8080/tcp"})
    assert recording is not None
    session.close()
    laptop.host.exec("echo '203.0.113.9 added-by-hand' >> /etc/hosts")
    third = Laptop(laptop.host, laptop.home / "third")
    third.home.mkdir()
    drifted, drift_recording = third.session(user="admin", record=True)
    drifted.plan("base")  # with the answers the server's copy holds
    assert drift_recording is not None
    return [
        Recorded(
            "debian12-day-one",
            "Debian 12 with base, admin-user, ssh-hardening and firewall applied and verified "
            "from another laptop: connect as admin, plan fail2ban, plan firewall with 8080/tcp",
            recording,
        ),
        Recorded(
            "debian12-drifted",
            "the same server once a line was added to /etc/hosts by hand: connect as admin "
            "from a third laptop, plan base with the answers of the server's copy",
            drift_recording,
        ),
    ]


@dataclass(frozen=True)
class Scenario:
    """A booted release and what is done on it, making one or more recordings."""

    distro: Distro
    drive: Callable[[Laptop], list[Recorded]]


SCENARIOS = {
    "debian12-fresh": Scenario(DEBIAN12, debian12_fresh),
    "ubuntu2404-fresh": Scenario(UBUNTU2404, ubuntu2404_fresh),
    "debian12-provider": Scenario(DEBIAN12, provider),
    "debian12-unfinished": Scenario(DEBIAN12, unfinished),
    "debian12-day-one": Scenario(DEBIAN12, day_one),
}


def boot_free(distro: Distro) -> TestHost:
    """A pristine machine in the first of the recorder's slots no other process holds."""
    for index in SLOTS:
        try:
            return boot(name=f"vwrec{index}", subnet_index=index, distro=distro)
        except HostBusy:
            continue
    raise HostBusy(f"every recorder slot (10.254.{SLOTS.start}-{SLOTS.stop - 1}.x) is in use")


def main(argv: list[str]) -> int:
    into = RECORDINGS
    if "--into" in argv:
        at = argv.index("--into")
        into = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    unknown = sorted(set(argv) - set(SCENARIOS))
    if unknown:
        print(f"no scenario named {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
        return 2
    for name in argv or list(SCENARIOS):
        scenario = SCENARIOS[name]
        host = boot_free(scenario.distro)
        try:
            with tempfile.TemporaryDirectory() as home:
                for made in scenario.drive(Laptop(host, Path(home))):
                    path = into / f"{made.name}.json"
                    made.recording.save(path, made.about)
                    print(f"{path}: {len(made.recording.exchanges)} scripts")
        finally:
            host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
