"""HSTS preload with the tls step's self-signed certificate contradicts itself: hstspreload.org
takes only a chain browsers trust, so the hsts.preload check could never pass and would stop
a whole answers file's run. The contradiction is refused at the question: in the answers file
before connecting, and when the steps are validated in order before anything is applied (the
TUI's form gets the same refusal at the preload field). Without preload, nothing stops."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.unit.test_answers_file_parsing import DAY_ONE, offline_session, tables
from wizard.answerfile import check_answers_file, validate_selection
from wizard.catalog import load_catalog
from wizard.checks.hsts import preload_check
from wizard.errors import AnswerError
from wizard.state import StepRecord

CATALOG = load_catalog()
RUN = ["base", "admin-user", "web", "vhost", "tls", "hsts"]
WEB = "[web]\n[vhost]\ndomain = 'example.org'\n"


def self_signed(hsts: str) -> str:
    return DAY_ONE + WEB + "[tls]\nsource = 'self-signed'\n" + hsts


def test_preload_with_a_self_signed_certificate_is_refused_before_connecting():
    answers = tables(self_signed("[hsts]\npreload = true\n"))
    with pytest.raises(AnswerError) as refused:
        check_answers_file(CATALOG, answers)
    assert refused.value.message.startswith("hsts.preload: preload needs a certificate browsers")
    assert "self-signed" in refused.value.message
    assert "preload = false" in refused.value.hint
    assert "[hsts] preload in answers.toml" in refused.value.hint


def test_the_same_contradiction_is_refused_before_the_first_step_is_applied(tmp_path: Path):
    session = offline_session(tmp_path)
    answers = tables(self_signed("[hsts]\npreload = true\n"))
    with pytest.raises(AnswerError) as refused:
        validate_selection(session, RUN, answers)
    assert refused.value.message.startswith("nothing was changed: hsts.preload: preload needs")
    assert session.host.steps == {}


def applied(tmp_path: Path, source: str):
    """A session on a host where vhost and tls were applied before, tls from `source`."""
    session = offline_session(tmp_path)
    steps = {
        "vhost": StepRecord("vhost", "applied", answers={"domain": "example.org"}),
        "tls": StepRecord("tls", "applied", answers={"source": source, "ca_file": ""}),
    }
    session.host = dataclasses.replace(session.host, steps=steps)
    return session


def test_a_tls_step_applied_before_is_read_once_connected(tmp_path: Path):
    """The file has no [tls]: before connecting nothing is known of it; once connected, the
    host's record says self-signed, and the form's question is refused the same way."""
    answers = tables("[hsts]\npreload = true\n")
    check_answers_file(CATALOG, answers)
    session = applied(tmp_path, "self-signed")
    with pytest.raises(AnswerError) as refused:
        validate_selection(session, ["hsts"], answers)
    assert "hsts.preload: preload needs a certificate browsers trust" in refused.value.message
    with pytest.raises(AnswerError) as at_the_form:
        session.validate(CATALOG.get("hsts"), {"preload": True, "max_age": "63072000"})
    assert at_the_form.value.message.startswith("hsts.preload: ")


@pytest.mark.parametrize(
    ("source", "hsts", "preload"),
    [
        ("self-signed", "[hsts]\npreload = false\n", False),
        ("self-signed", "[hsts]\n", False),
        ("acme", "[hsts]\n", True),
        ("acme", "[hsts]\npreload = true\n", True),
    ],
)
def test_without_the_contradiction_the_answers_pass(tmp_path: Path, source, hsts, preload):
    """Preload's default follows the certificate: off for a self-signed one."""
    text = DAY_ONE + WEB + f"[tls]\nsource = '{source}'\n" + hsts
    check_answers_file(CATALOG, tables(text))
    validated = validate_selection(offline_session(tmp_path), RUN, tables(text))
    assert validated["hsts"].values["preload"] is preload


def test_the_preload_check_with_preload_off_is_ok_without_asking_anything():
    """With preload off the rules are not the step's promise: the check does not fail the
    run, and reaches no server (no context is given to it)."""
    result = preload_check(None, {"domain": "example.org", "ca_file": "", "preload": False})  # type: ignore[arg-type]
    assert result.status == "ok"
    assert "preload is off" in result.summary
