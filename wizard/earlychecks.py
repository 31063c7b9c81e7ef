"""Checks begun before the facts are in: `verify` runs its checks while the facts script runs.

A verify needs the facts only to render its checks (the sshd port, the addresses, a step's
answers seen through the templates). The checks begin at once with the facts this machine
kept from its last connect to the server (Session.open), in a thread of their own, on
channels beside the facts'. Once the real facts are in, a check's result is taken only when
the check would run now exactly as it ran then: the same check with the same parameters, in
a context that shows checks the same facts and answers. Any other check runs again; a
recovery of an interrupted run (which changes the server) drops them all.

What the facts carry of the wizard itself (the server's copy of the record, its journal and
manifest) is left out of the comparison: every verify rewrites the record's copy, and no
check reads any of it (a test holds the check modules to that).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from wizard.checks import load_checks
from wizard.checks.base import CheckContext, CheckResult, run_checks
from wizard.endpoint import Stats
from wizard.resume import ServerTraces

Spec = tuple[str, Mapping[str, Any]]


def as_checks_see(context: CheckContext) -> CheckContext:
    """The context without the wizard's own traces in its facts (see the module's doc)."""
    facts = dataclasses.replace(
        context.facts, server_state={}, traces=ServerTraces(False, False, frozenset())
    )
    return dataclasses.replace(context, facts=facts)


class EarlyChecks:
    """Checks running in a thread of their own, their results taken once (take)."""

    def __init__(
        self, context: CheckContext, specs: Sequence[Spec], owners: Sequence[str], stats: Stats
    ) -> None:
        self.context = context
        self.specs = list(specs)
        self.owners = list(owners)
        self._results: list[CheckResult] | None = None
        self._thread = threading.Thread(
            target=self._run, args=(stats,), name="vps-wizard-early-checks", daemon=True
        )
        self._thread.start()

    def _run(self, stats: Stats) -> None:
        with stats.phase("verify"):
            try:
                load_checks(check_id for check_id, _ in self.specs)
                self._results = run_checks(self.context, self.specs)
            except Exception:
                # Early results are a saving, never a verdict: without them every check
                # runs in its turn, and that run reports whatever went wrong here.
                self._results = None

    def take(
        self, context: CheckContext, specs: Sequence[Spec], owners: Sequence[str]
    ) -> dict[int, CheckResult]:
        """Wait for the early checks; the results (by position in `specs`) of the checks
        that ran as they would run now in `context`. Taken once: a second call finds none."""
        self._thread.join()
        results, self._results = self._results, None
        if results is None or as_checks_see(self.context) != as_checks_see(context):
            return {}
        unused = list(range(len(self.specs)))
        taken: dict[int, CheckResult] = {}
        for index, (spec, owner) in enumerate(zip(specs, owners, strict=True)):
            for early in unused:
                if self.specs[early] == spec and self.owners[early] == owner:
                    taken[index] = results[early]
                    unused.remove(early)
                    break
        return taken

    def drop(self) -> None:
        """Wait for the early checks and forget their results (the server is about to change)."""
        self._thread.join()
        self._results = None
