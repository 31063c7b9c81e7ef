"""The first plan's probe guessed before the facts come (Session._read_ahead): from the facts
this machine kept from the last connect to the same server, so that the guess is the very
probe the plan then sends, and nothing is guessed from facts of another wizard version."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.unit.recordings import answers, playback, session
from wizard.facts import parse_facts
from wizard.plan import guessed_probe, probe_script, render_step
from wizard.shell import Shell
from wizard.state import StateStore

RECORDING = "debian12-day-one"


class Catching:
    """Stands for the Remote: keeps what the session asks it to read ahead."""

    def __init__(self) -> None:
        self.scripts: list[Shell] = []

    def read_ahead(self, scripts: list[Shell]) -> None:
        self.scripts += scripts


def real_probe(name: str, home: Path, step_id: str) -> str:
    """The probe the plan sends once the facts are in."""
    opened = session(name, home)
    step = opened.catalog.get(step_id)
    values = opened.validate(step, answers(step_id)).values
    return str(probe_script(step, render_step(step, opened.context(step, values))))


def guess(home: Path, step_id: str) -> list[Shell]:
    """What a new session on the recorded server reads ahead, before its facts, for the step
    (the state database in `home`, as a later command on this machine finds it)."""
    store = StateStore(home / "state.db")
    remote = playback(RECORDING)
    host, _ = store.identify(remote.host_fingerprint, remote.target.host, 22)
    opened = session(RECORDING, home / "elsewhere")
    before = dataclasses.replace(opened, store=store, host=host, facts=parse_facts(""))
    catching = Catching()
    before._read_ahead(catching, step_id, answers(step_id))  # type: ignore[arg-type]
    return catching.scripts


def test_the_facts_kept_from_the_last_connect_make_the_guess_the_plans_probe(tmp_path) -> None:
    # base's probe depends on the facts (the release's security source).
    assert [str(s) for s in guess(tmp_path / "new", "base")] != [
        real_probe(RECORDING, tmp_path / "real", "base")
    ]
    session(RECORDING, tmp_path / "known")  # a first connect keeps the facts
    assert [str(s) for s in guess(tmp_path / "known", "base")] == [
        real_probe(RECORDING, tmp_path / "real", "base")
    ]


def test_facts_kept_by_another_facts_script_are_not_used(tmp_path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.save_facts("SHA256:x", "digest-of-this-script", "kernel=6.1\n")
    assert store.last_facts("SHA256:x", "digest-of-this-script") == "kernel=6.1\n"
    assert store.last_facts("SHA256:x", "digest-of-another-version") == ""
    assert store.last_facts("SHA256:other-host", "digest-of-this-script") == ""


def test_a_step_comparing_a_secret_is_not_guessed(tmp_path) -> None:
    """Its secret goes to the server only in the probe of the plan that needs it."""
    opened = session(RECORDING, tmp_path)
    secret_steps = [
        step
        for step in opened.catalog.steps
        if any(spec.secret and spec.compare for spec in step.files)
    ]
    assert secret_steps
    for step in secret_steps:
        raw = {q.name: "a-Secret-4-test" for q in step.questions if q.secret}
        values = opened.validate(step, raw).values
        desired = render_step(step, opened.context(step, values))
        assert any(f.compare is not None for f in desired.files)
        assert guessed_probe(step, opened.context(step, values)) is None
