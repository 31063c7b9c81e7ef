"""Verdicts that several check areas share: a port that gave no TCP connection, an HTTP
request that got no response, and what a TLS port accepts (versions one by one, and the whole
Mozilla intermediate profile), for the web, vhost, tls and mail checks alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wizard.checks.base import CheckResult, fail, ok, warn
from wizard.probes.http import HttpAnswer
from wizard.probes.tlsscan import (
    PROFILE_GROUPS,
    PROFILE_SUITES12,
    PROFILE_SUITES13,
    Accepted,
    judge_profile,
)

if TYPE_CHECKING:
    # wizard.probes.tls imports cryptography's x509 (0.1 s): loaded by the checks that
    # shake hands, not by every web check that only shares these verdicts.
    from wizard.probes.tls import Handshake

# No TCP connection at all (a timeout, a refused connection): nothing about TLS is known, and
# the usual cause is the firewall, which lets a step's port in only once it is applied again.
CLOSED_PORT = "closed or filtered (no TCP connection)"
CLOSED_HINT = (
    "the port is closed or filtered: the firewall must let it in (apply the firewall step "
    "again: the step that added the port waits for it), and the server must listen on it"
)
# The TLS versions a port must refuse (False) and accept (True).
WANTED = {"TLS 1.0": False, "TLS 1.1": False, "TLS 1.2": True, "TLS 1.3": True}


def http_problem(check_id: str, answer: HttpAnswer, what: str, evidence: str) -> CheckResult:
    """The fail result of a request that got no HTTP response at all, with what to do."""
    port = answer.where.rsplit(":", 1)[-1]
    hints = {
        "filtered": f"port {port} does not answer from here: the firewall drops it. Run the "
        f"firewall step again (it opens {port}/tcp once the web step is applied); if it is open "
        "on the server, a provider firewall or security group may drop it too",
        "refused": f"nothing listens on port {port}: is the web server running? "
        "sudo systemctl status nginx (or apache2), then run the web step again",
        "closed": "the web server closed the connection without answering: nginx does that "
        "(444) for a name no server block knows, so the site's configuration is missing. Run "
        "the step again; sudo nginx -T | grep server_name lists the names it serves",
        "unreachable": "this machine has no route to the server: check the address",
    }
    return fail(
        check_id,
        f"{what}: {answer.error}",
        evidence,
        hints.get(answer.error, "see the evidence"),
    )


@dataclass(frozen=True)
class VersionTally:
    """Handshakes offering one TLS version each, sorted out against WANTED."""

    lines: tuple[str, ...]  # one per version: accepted, refused or could not test
    wrong: tuple[str, ...]  # "TLS 1.0 accepted", "TLS 1.3 refused"
    untested: tuple[str, ...]  # versions this machine cannot offer
    unconnected: tuple[str, ...] = ()  # versions whose attempt got no TCP connection

    @property
    def evidence(self) -> str:
        """The lines, for a result's evidence."""
        return "\n".join(self.lines)


def tally_versions(seen: Mapping[str, Handshake]) -> VersionTally:
    """Which versions the server accepted, against TLS 1.0/1.1 off and 1.2/1.3 on."""
    from wizard.probes.tls import Handshake

    lines, wrong, untested, unconnected = [], [], [], []
    for label, wanted in WANTED.items():
        attempt = seen.get(label, Handshake(error="not tried", local=True))
        if attempt.local:
            state = f"could not test: this machine cannot offer it ({attempt.error})"
            untested.append(label)
        elif attempt.no_connection:
            state = f"no connection ({attempt.error})"
            unconnected.append(label)
            lines.append(f"{label}: {state}")
            continue
        elif attempt.error:
            state = f"refused ({attempt.error})"
        else:
            state = f"accepted ({attempt.version}, {attempt.cipher})"
        lines.append(f"{label}: {state}")
        accepted = not attempt.local and not attempt.error
        if not attempt.local and accepted != wanted:
            wrong.append(f"{label} {'accepted' if accepted else 'refused'}")
    return VersionTally(tuple(lines), tuple(wrong), tuple(untested), tuple(unconnected))


def judge_tally(
    cid: str, subject: str, tally: VersionTally, wrong_hint: str, ok_summary: str
) -> CheckResult:
    """Fail on a wrong version (or untestable 1.2/1.3), warn on untestable old versions; a
    version that got no TCP connection is a closed or filtered port, not a TLS setting."""
    if tally.unconnected:
        return fail(
            cid,
            f"{subject}: port {CLOSED_PORT} for {', '.join(tally.unconnected)}",
            tally.evidence,
            CLOSED_HINT,
        )
    if tally.wrong:
        return fail(cid, f"{subject}: {', '.join(tally.wrong)}", tally.evidence, wrong_hint)
    if any(WANTED[label] for label in tally.untested):
        return fail(
            cid, "TLS 1.2/1.3 could not be tested", tally.evidence, "this machine's OpenSSL"
        )
    if tally.untested:
        return warn(
            cid,
            f"{subject}: TLS 1.2 and 1.3 accepted; {', '.join(tally.untested)} not tested",
            tally.evidence,
            "this machine's OpenSSL refuses to offer the old versions; test from another client",
        )
    return ok(cid, f"{subject}: {ok_summary}", tally.evidence)


def judge_profiles(
    cid: str, host: str, ports: Mapping[int, Accepted], hint: str, fs_hint: str = ""
) -> CheckResult:
    """Each port accepts TLS 1.2 and 1.3, and nothing outside Mozilla's intermediate profile:
    its suites (ECDHE or DHE with AES-GCM or ChaCha20; TLS 1.3's but CCM) and its groups
    (X25519, P-256, P-384). Probes that got no answer at all only warn."""
    evidence_lines = [
        f"profile: TLS 1.2, TLS 1.3; suites {', '.join(PROFILE_SUITES13)}, "
        f"{', '.join(PROFILE_SUITES12)}; groups {', '.join(PROFILE_GROUPS)}"
    ]
    problems: list[str] = []
    silent: list[str] = []
    static: list[str] = []
    unreachable = False
    for port, accepted in ports.items():
        evidence_lines.append(f"port {port}:")
        evidence_lines += [f"  {line}" for line in accepted.lines()]
        if accepted.unreachable:
            problems.append(f"port {port}: no TLS ({accepted.unreachable})")
            unreachable = True
            continue
        verdict = judge_profile(accepted)
        if verdict.outside:
            problems.append(f"port {port} accepts {', '.join(verdict.outside)}")
        if verdict.missing:
            problems.append(f"port {port} refuses {', '.join(verdict.missing)}")
        static += verdict.non_forward_secret
        if accepted.errors:
            silent.append(f"port {port}: {len(accepted.errors)} offers got no answer")
    evidence = "\n".join(evidence_lines)
    if problems:
        summary = f"{host}: " + "; ".join(problems)
        if static:
            summary += f" ({', '.join(static)} without forward secrecy)"
        if unreachable:
            # Not one offer got an answer: the port, not the TLS configuration.
            hint = f"no offer got any answer: {CLOSED_HINT}"
        return fail(cid, summary, evidence, fs_hint if static and fs_hint else hint)
    if silent:
        return warn(
            cid,
            f"{host}: nothing outside Mozilla intermediate, but " + "; ".join(silent),
            evidence,
            "a slow link or a rate limit; run verify again",
        )
    listed = ", ".join(str(port) for port in ports)
    return ok(
        cid,
        f"{host} port{'s' if len(ports) > 1 else ''} {listed}: Mozilla intermediate only "
        "(TLS 1.2 and 1.3, AEAD suites with forward secrecy, X25519/P-256/P-384)",
        evidence,
    )
