"""The lockout guard's confirmation: after a guarded change (sshd, the firewall), only a
brand-new SSH session as the admin may disarm the server's revert; when it cannot log in, the
change is undone at once (or by the server's own timer if this session is gone too)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from wizard.apply import ApplyOutcome
from wizard.connector import Connector
from wizard.endpoint import ConnectOptions, Stats, Target
from wizard.errors import WizardError
from wizard.guard import confirm_script, revert_now_script
from wizard.hostkeys import host_keys_script, parse_host_keys, trust
from wizard.journal import RunPaths
from wizard.remote import Remote, known_hosts_name
from wizard.runstatus import RunStatus


@dataclass(frozen=True)
class Confirmation:
    """How the guard's confirmation ended: the outcome, and when it was confirmed, the new
    session to go on with and where it logged in."""

    outcome: ApplyOutcome
    session: Remote | None = None
    user: str = ""
    port: int = 22


def confirm_from_new_session(
    remote: Connector,
    options: ConnectOptions,
    stats: Stats,
    user: str,
    port: int,
    outcome: ApplyOutcome,
    on_event: Callable[[str], None],
) -> Confirmation:
    """Log in afresh as `user` on `port` (sshd's port once the change is in place) and
    confirm the run there; revert it over `remote` when that fails."""
    paths = RunPaths(outcome.run_id)
    if port != (remote.target.port or 22):
        _trust_current_key_on(remote, options, port)
    _learn_host_keys(remote, options, port)
    credentials = dataclasses.replace(options.credentials, password=None)
    on_event(f"opening a new SSH session as {user} on port {port} to confirm")
    try:
        fresh = Remote.connect(
            Target(remote.target.host, user, port), credentials, options.known_hosts, stats=stats
        )
        confirmed = "@@CONFIRMED" in fresh.run_script(confirm_script(paths, outcome.run_id)).stdout
    except WizardError as error:
        confirmed, reason = False, error.message.rstrip(".")
    else:
        reason = "" if confirmed else f"sudo did not work for {user} in the new session"
    if confirmed:
        on_event("confirmed from a new session: the revert is disarmed")
        done = dataclasses.replace(outcome, status=RunStatus.DONE)
        return Confirmation(done, fresh, user, port)
    on_event(f"the new session failed ({reason}): reverting")
    try:
        remote.run_script(revert_now_script(paths, outcome.run_id))
        status = RunStatus.REVERTED
        detail = "The previous configuration was put back at once."
    except WizardError:
        status = RunStatus.FAILED
        detail = (
            f"This session is gone too; the server puts the previous configuration back "
            f"by itself within {options.guard_seconds} s."
        )
    failure = f"a new SSH session could not log in after the change: {reason}. {detail}"
    return Confirmation(dataclasses.replace(outcome, status=status, failure=failure))


def _trust_current_key_on(remote: Connector, options: ConnectOptions, port: int) -> None:
    """The same host key, already verified on this session, is trusted on the new port."""
    # Only a live SSH session has a host key to hand on (a recorded one never gets here).
    assert isinstance(remote, Remote)
    transport = remote._client.get_transport()
    assert transport is not None
    key = transport.get_remote_server_key()
    name = known_hosts_name(remote.target.host, port)
    trust(options.known_hosts, name, [(key.get_name(), key.get_base64())])


def _learn_host_keys(remote: Connector, options: ConnectOptions, port: int) -> None:
    """Trust the server's ed25519 and RSA host keys for the confirming session, read over
    this session, whose host key was verified (as OpenSSH's UpdateHostKeys does): a step that
    stops offering the key this laptop knew (ssh-hardening drops ECDSA) must not make the
    guard's new session fail and undo the step."""
    shown = remote.run(host_keys_script()).stdout
    name = known_hosts_name(remote.target.host, port)
    trust(options.known_hosts, name, parse_host_keys(shown))
