"""A check's status is an enum (ok, warn, fail) that still reads as its string where a user sees
it: the CLI's JSON and a comparison with the plain word."""

from __future__ import annotations

import dataclasses
import json

import pytest

from wizard.checks.base import CheckResult, CheckStatus, fail, ok, warn


def test_the_helpers_give_the_enum():
    assert ok("x.y", "fine").status is CheckStatus.OK
    assert warn("x.y", "hm").status is CheckStatus.WARN
    assert fail("x.y", "broken").status is CheckStatus.FAIL


def test_json_and_string_comparisons_see_the_same_words():
    result = fail("x.y", "broken")
    assert json.loads(json.dumps(dataclasses.asdict(result)))["status"] == "fail"
    assert result.status == "fail" and f"{result.status}" == "fail"


def test_a_plain_string_becomes_the_enum_and_a_typo_is_refused():
    assert CheckResult("x.y", "warn", "hm").status is CheckStatus.WARN  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="okay"):
        CheckResult("x.y", "okay", "typo")  # type: ignore[arg-type]
