"""A run whose preview was made just before it from the same session (the CLI's `apply`):
the steps no earlier step of the run changes are applied as previewed, without planning them
again (one round trip less each); the steps after a change are planned again and held to the
preview, as in any previewed run."""

from __future__ import annotations

import pytest

from tests.unit.test_workflow import Server, changed, drive
from wizard.catalog import Catalog, load_catalog
from wizard.errors import WizardError
from wizard.preview import PlannedStep
from wizard.workflow import Applied, Decision, Review, RunEnd, run_steps


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_the_first_step_is_applied_as_previewed_and_the_next_planned_again(catalog):
    base, web = changed(catalog, "base"), changed(catalog, "web")
    server = Server({"base": base, "web": web})
    previewed = [PlannedStep(base), PlannedStep(web, ("base",))]
    events, end = drive(
        run_steps(server, [("base", {}), ("web", {})], previewed, current=True),
        {Review: Decision.APPLY},
    )
    assert end is RunEnd.DONE
    assert [e.plan for e in events if isinstance(e, Applied)] == [base, web]
    # base was not planned again; web, planned after base changed the server, was.
    assert [c for c in server.calls if c[0] == "plan"] == [("plan", "web")]


def test_a_later_step_that_now_differs_still_stops_the_run(catalog):
    base = changed(catalog, "base")
    shown_web = changed(catalog, "web", b"as previewed\n")
    server = Server({"base": base, "web": changed(catalog, "web", b"something else\n")})
    previewed = [PlannedStep(base), PlannedStep(shown_web, ("base",))]
    workflow = run_steps(server, [("base", {}), ("web", {})], previewed, current=True)
    with pytest.raises(WizardError, match="step web would now write something else"):
        drive(workflow, {Review: Decision.APPLY})
    assert ("apply", "base") in server.calls and ("apply", "web") not in server.calls


def test_without_current_every_step_is_planned_again(catalog):
    base = changed(catalog, "base")
    server = Server({"base": base})
    drive(run_steps(server, [("base", {})], [PlannedStep(base)]), {Review: Decision.APPLY})
    assert ("plan", "base") in server.calls
