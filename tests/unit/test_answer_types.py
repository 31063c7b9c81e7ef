"""The answer types a step declares without Python: integers of any size with a range, text with
a declared pattern, lists of any one-value type and tables of typed cells. Each is read from an
answers file (arrays, arrays of tables) and from a form's one-line text, and each refusal says
where and why."""

from __future__ import annotations

import json
import tomllib

import pytest

from wizard.answers import (
    ITEM_TYPES,
    QUESTION_TYPES,
    answer_as_text,
    parse_answer,
    validate_answers,
)
from wizard.errors import AnswerError
from wizard.steps import Question, Step


def refused(question: Question, raw: object) -> AnswerError:
    with pytest.raises(AnswerError) as error:
        parse_answer(question, raw)
    return error.value


# ----------------------------------------------------------------------------- integer

PERCENT = Question("share", "integer", "Share", min=0, max=100)


@pytest.mark.parametrize(("raw", "value"), [(0, 0), (100, 100), ("42", 42), (" +7 ", 7)])
def test_an_integer_in_range_is_taken_from_a_number_or_its_text(raw, value):
    assert parse_answer(PERCENT, raw) == value


@pytest.mark.parametrize("raw", [101, -1, "250"])
def test_an_integer_out_of_range_is_refused_with_the_range(raw):
    assert "expected a whole number from 0 to 100" in refused(PERCENT, raw).message


def test_one_bound_is_said_alone():
    assert "at least 1" in refused(Question("n", "integer", "n", min=1), 0).message
    assert "at most 9" in refused(Question("n", "integer", "n", max=9), 10).message


def test_an_integer_of_any_size_is_read_from_text():
    huge = "9" * 40  # beyond TOML's 64 bits: given as text in an answers file
    assert parse_answer(Question("n", "integer", "n"), huge) == int(huge)


@pytest.mark.parametrize("raw", [True, 2.5, "12abc", "1 000", "0x10"])
def test_what_is_not_a_whole_number_is_refused(raw):
    assert "a whole number" in refused(PERCENT, raw).message


# ----------------------------------------------------------------------------- text

REGION = Question(
    "region", "text", "Region", pattern=r"[a-z]{2}-[a-z]+-[0-9]", pattern_help="like eu-west-1"
)


def test_text_matching_its_pattern_is_taken():
    assert parse_answer(REGION, " eu-west-1 ") == "eu-west-1"


@pytest.mark.parametrize("raw", ["EU-west-1", "eu-west-1x", "xeu-west-1", "eu west 1"])
def test_text_not_fully_matching_is_refused_with_the_help_not_the_expression(raw):
    message = refused(REGION, raw).message
    assert message.endswith("expected like eu-west-1")
    assert "[a-z]" not in message


def test_text_without_help_shows_the_pattern():
    assert "[0-9]+" in refused(Question("n", "text", "n", pattern="[0-9]+"), "x").message


def test_text_is_one_line_without_hidden_characters():
    assert "single line" in refused(Question("t", "text", "t"), "a\nb").message
    assert "invisible" in refused(Question("t", "text", "t"), "a\u202eb").message


# ----------------------------------------------------------------------------- list

UPSTREAMS = Question("upstreams", "list", "Upstreams", item="ipv4")


def test_a_list_is_an_array_or_comma_separated_text_of_checked_items():
    assert parse_answer(UPSTREAMS, ["192.0.2.1", "192.0.2.2"]) == ("192.0.2.1", "192.0.2.2")
    assert parse_answer(UPSTREAMS, "192.0.2.1, 192.0.2.2,") == ("192.0.2.1", "192.0.2.2")


def test_a_refused_item_is_named_by_its_place_and_value():
    error = refused(UPSTREAMS, ["192.0.2.1", "2001:db8::1"])
    assert error.message.startswith("item 2 (2001:db8::1): ")
    assert "IPv6" in error.message


def test_a_list_item_keeps_the_questions_range_and_pattern():
    weights = Question("weights", "list", "Weights", item="integer", min=1, max=5)
    assert parse_answer(weights, [1, "5"]) == (1, 5)
    assert "item 2 (9): 9 is out of range" in refused(weights, [1, 9]).message
    names = Question("names", "list", "Names", item="text", pattern="[a-z]+", pattern_help="a-z")
    assert "item 1 (A): 'A': expected a-z" in refused(names, ["A"]).message


def test_an_empty_optional_list_is_the_empty_tuple_and_a_required_one_is_refused():
    optional = Question("extra", "list", "Extra", item="port", required=False)
    assert parse_answer(optional, []) == ()
    assert parse_answer(optional, "") == ()
    assert refused(UPSTREAMS, []).message == "an answer is needed"


# ----------------------------------------------------------------------------- table

MAILBOXES = Question(
    "mailboxes",
    "table",
    "Mailboxes",
    columns=(
        Question("name", "username", "Name"),
        Question("quota", "integer", "Quota (GB)", min=1, max=100),
        Question("forward", "email", "Forward to", required=False),
    ),
)


def test_a_table_from_an_answers_file_is_rows_of_typed_cells():
    raw = tomllib.loads(
        """
        [[mailboxes]]
        name = "alice"
        quota = 2
        [[mailboxes]]
        name = "bob"
        quota = "10"
        forward = "Bob@Example.org"
        """
    )["mailboxes"]
    assert parse_answer(MAILBOXES, raw) == (
        {"name": "alice", "quota": 2, "forward": ""},
        {"name": "bob", "quota": 10, "forward": "Bob@example.org"},
    )


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ([{"name": "alice", "quota": 0}], "row 1, quota: 0 is out of range"),
        ([{"name": "alice", "quota": 1}, {"quota": 1}], "row 2, name: an answer is needed"),
        ([{"name": "root", "quota": 1}], "row 1, name: 'root' is a system account"),
        ([{"name": "alice", "quoat": 1}], "row 1 has no column quoat"),
        (["alice"], "row 1: expected a table of name, quota, forward"),
        ("alice, 1, a@example.org, extra", "row 1 has 4 cells, the table 3"),
        ({"name": "alice"}, "expected rows"),
    ],
)
def test_a_refused_row_names_its_place_and_column(raw, said):
    assert said in refused(MAILBOXES, raw).message


def test_an_unknown_column_names_the_known_ones():
    assert refused(MAILBOXES, [{"nme": "alice"}]).hint == "its columns are: name, quota, forward"


def test_a_form_shows_lists_and_tables_as_the_text_it_reads_back():
    table = parse_answer(MAILBOXES, [{"name": "alice", "quota": 2}, ["bob", 3, "b@example.org"]])
    text = answer_as_text(MAILBOXES, table)
    assert text == "alice, 2, ; bob, 3, b@example.org"
    assert "{" not in text and "(" not in text
    assert parse_answer(MAILBOXES, text) == table
    upstreams = parse_answer(UPSTREAMS, ["192.0.2.1", "192.0.2.2"])
    assert answer_as_text(UPSTREAMS, upstreams) == "192.0.2.1, 192.0.2.2"
    assert parse_answer(UPSTREAMS, answer_as_text(UPSTREAMS, upstreams)) == upstreams


# ----------------------------------------------------------------------------- in a step


def test_the_types_are_exported_for_the_step_schema():
    assert {"integer", "text", "list", "table", "choice", "port"} <= set(QUESTION_TYPES)
    assert "list" not in ITEM_TYPES and "table" not in ITEM_TYPES
    assert "secret" not in ITEM_TYPES and "port_list" not in ITEM_TYPES


def test_a_step_bug_in_an_item_type_is_said_as_one():
    error = refused(Question("l", "list", "l", item="secret"), ["x" * 20])
    assert "item type 'secret'" in error.message and "bug in the step definition" in error.hint


def test_a_question_not_asked_keeps_an_empty_list_or_table():
    step = Step(
        "s",
        "S",
        "",
        questions=(
            Question("proxy", "bool", "Proxy?"),
            Question("upstreams", "list", "Upstreams", item="ipv4", when="answers.proxy"),
            Question("boxes", "table", "Boxes", columns=MAILBOXES.columns, when="answers.proxy"),
        ),
    )
    answers = validate_answers(step, {"proxy": False, "upstreams": "not an address"})
    assert answers.values == {"proxy": False, "upstreams": (), "boxes": ()}
    with pytest.raises(AnswerError) as error:
        validate_answers(step, {"proxy": True, "upstreams": ["x"], "boxes": []})
    assert error.value.message.startswith("s.upstreams: item 1 (x): ")


def test_an_integer_beyond_what_the_state_keeps_is_stored_as_its_digits_and_read_back():
    from wizard.answers import STORED_NUMBER
    from wizard.state import MAX_NUMBER, HostRecord, StepRecord, merge_server_copy

    assert STORED_NUMBER == MAX_NUMBER
    step = Step(
        "s",
        "S",
        "",
        questions=(Question("n", "integer", "N"), Question("m", "list", "M", item="integer")),
    )
    huge = 10**30
    stored = validate_answers(step, {"n": huge, "m": [1, str(huge)]}).public()
    assert stored == {"n": str(huge), "m": (1, str(huge))}
    local = HostRecord("192.0.2.10", "192.0.2.10", 22)
    copy = HostRecord(
        "192.0.2.10", "192.0.2.10", 22, steps={"s": StepRecord("s", "applied", stored, {}, 1.0)}
    )
    merged = merge_server_copy(local, json.loads(json.dumps(copy.to_json())))
    assert validate_answers(step, merged.step("s").answers).values == {"n": huge, "m": (1, huge)}
