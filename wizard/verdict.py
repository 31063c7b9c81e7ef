"""A step's status after its checks, as the record keeps it: verified only with the time of
the checks and its files in the server's manifest; an unconfirmed step whose checks fail is
not on the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wizard.checks.base import CheckResult
from wizard.state import StepRecord, StepState


def verdict(
    record: StepRecord, failed: Sequence[CheckResult], checked: float, manifest: frozenset[str]
) -> dict[str, Any]:
    """The record's new status, check time and message."""
    failures = "; ".join(r.summary for r in failed)
    if failed and record.status == StepState.UNCONFIRMED:
        return {
            "status": StepState.PENDING,
            "checked": 0.0,
            "message": f"not on the server (its checks fail: {failures}): apply it again",
        }
    if failed:
        return {"status": StepState.FAILED_VERIFY, "checked": 0.0, "message": failures}
    missing = sorted(set(record.files) - manifest)
    if missing:
        unconfirmed_before = record.status == StepState.UNCONFIRMED
        return {
            "status": StepState.UNCONFIRMED if unconfirmed_before else StepState.APPLIED,
            "checked": 0.0,
            "message": f"its checks pass, but the server's manifest does not list "
            f"{', '.join(missing)}: apply the step again to record them",
        }
    return {"status": StepState.VERIFIED, "checked": checked, "message": ""}
