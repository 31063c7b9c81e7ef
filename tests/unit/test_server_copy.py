"""The server's state.json checked against its schema before it is merged (wizard/state.py).

Whoever is root on the server can write that file; what the wizard reads back from it resumes
steps, prefills answers and names the user to log in as. A copy that does not fit is refused
whole, with a reason, and the local record stays as it was.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from wizard.state import (
    HostRecord,
    ServerCopyRefused,
    StepRecord,
    merge_server_copy,
    read_server_copy,
)

LOCAL = HostRecord(
    "192.0.2.10",
    "192.0.2.10",
    22,
    "root",
    "",
    {"base": StepRecord("base", "applied", {"fqdn": "vps.example.org"}, {}, 100.0)},
)


def written_copy() -> dict[str, Any]:
    """A copy as the wizard writes it (HostRecord.to_json), newer than the local record."""
    record = HostRecord(
        "192.0.2.10",
        "192.0.2.10",
        22,
        admin_user="alice",
        steps={
            "base": StepRecord(
                "base",
                "verified",
                {"fqdn": "vps.example.org", "upgrade": True},
                {"/etc/hosts": "a" * 64},
                200.0,
            ),
            "firewall": StepRecord(
                "firewall",
                "failed",
                {"extra_ports": ["80/tcp", "443/tcp"], "allow_ping": False},
                {},
                150.5,
                # A failure quotes the server's output: shown visibly, not refused.
                "nft said: \x1b[31merror\x1b[0m",
            ),
        },
    )
    return json.loads(json.dumps(record.to_json()))


def test_a_copy_the_wizard_wrote_is_merged_newer_step_first():
    merged = merge_server_copy(LOCAL, written_copy())
    assert merged.step("base").status == "verified"
    assert merged.step("firewall").answers["extra_ports"] == ["80/tcp", "443/tcp"]
    assert merged.step("firewall").message == "nft said: \x1b[31merror\x1b[0m"
    assert merged.admin_user == "alice"


def test_list_and_table_answers_are_merged():
    """A list of numbers (item = "port") and a table's rows of typed cells are answers too."""
    data = written_copy()
    rows = [{"name": "alice", "quota": 2, "admin": True}, {"name": "bob", "quota": 3}]
    data["steps"]["firewall"]["answers"].update(ports=[80, 443], mailboxes=rows)
    merged = merge_server_copy(LOCAL, data).step("firewall").answers
    assert merged["ports"] == [80, 443] and merged["mailboxes"] == rows


def test_the_json_text_is_read_as_well_and_no_copy_is_an_empty_one():
    assert merge_server_copy(LOCAL, json.dumps(written_copy())).admin_user == "alice"
    assert merge_server_copy(LOCAL, "\n") == LOCAL
    assert merge_server_copy(LOCAL, {}) == LOCAL


def broken(change) -> dict[str, Any]:
    data = written_copy()
    change(data)
    return data


HOSTILE: dict[str, Any] = {
    "a list, not an object": [],
    "version 2": broken(lambda d: d.update(version=2)),
    "version true": broken(lambda d: d.update(version=True)),
    "unknown top-level field": broken(lambda d: d.update(run_as="root")),
    "admin user with a shell payload": broken(lambda d: d.update(admin_user="a;id")),
    "admin user not a text": broken(lambda d: d.update(admin_user=["root"])),
    "steps a list": broken(lambda d: d.update(steps=[])),
    "step id with an escape": broken(lambda d: d["steps"].update({"\x1b]0;x\x07": {}})),
    "unknown status": broken(lambda d: d["steps"]["base"].update(status="pwned")),
    "status not a text": broken(lambda d: d["steps"]["base"].update(status=1)),
    "step_id of another step": broken(lambda d: d["steps"]["base"].update(step_id="firewall")),
    "unknown step field": broken(lambda d: d["steps"]["base"].update(run="rm -rf /")),
    "updated a text": broken(lambda d: d["steps"]["base"].update(updated="9e99")),
    "updated infinite": broken(lambda d: d["steps"]["base"].update(updated=float("inf"))),
    "updated negative": broken(lambda d: d["steps"]["base"].update(updated=-1)),
    "message not a text": broken(lambda d: d["steps"]["base"].update(message={"a": 1})),
    "huge message": broken(lambda d: d["steps"]["base"].update(message="x" * 10_000_000)),
    "answers a list": broken(lambda d: d["steps"]["base"].update(answers=["fqdn"])),
    "answer an object": broken(lambda d: d["steps"]["base"]["answers"].update(fqdn={"a": 1})),
    "answer with OSC": broken(
        lambda d: d["steps"]["base"]["answers"].update(fqdn="\x1b]52;c;x\x07")
    ),
    "answer list in a list": broken(
        lambda d: d["steps"]["firewall"]["answers"].update(extra_ports=[["80/tcp"]])
    ),
    "table row with an object": broken(
        lambda d: d["steps"]["firewall"]["answers"].update(rows=[{"name": {"a": 1}}])
    ),
    "table row with OSC": broken(
        lambda d: d["steps"]["firewall"]["answers"].update(rows=[{"name": "\x1b]52;c;x\x07"}])
    ),
    "table column with a space": broken(
        lambda d: d["steps"]["firewall"]["answers"].update(rows=[{"a b": "x"}])
    ),
    "huge answer": broken(lambda d: d["steps"]["base"]["answers"].update(fqdn="a" * 100_000)),
    "huge number": broken(lambda d: d["steps"]["base"]["answers"].update(port=10**30)),
    "answer name with a space": broken(lambda d: d["steps"]["base"]["answers"].update({"a b": 1})),
    "relative file path": broken(lambda d: d["steps"]["base"]["files"].update({"etc/x": "a"})),
    "digest not a text": broken(lambda d: d["steps"]["base"]["files"].update({"/etc/x": 1})),
    "too many steps": broken(
        lambda d: d["steps"].update(
            {f"s{i}": copy.deepcopy(d["steps"]["base"]) for i in range(200)}
        )
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_copy_that_does_not_fit_is_refused_whole_with_the_reason(case):
    with pytest.raises(ServerCopyRefused) as refused:
        merge_server_copy(LOCAL, HOSTILE[case])
    assert refused.value.message.startswith("the server's copy of the wizard's state was not")
    assert "\x1b" not in refused.value.message and len(refused.value.message) < 300
    assert refused.value.hint


def test_nothing_of_a_refused_copy_is_merged_even_its_good_steps():
    data = written_copy()
    data["steps"]["firewall"]["status"] = "owned"
    with pytest.raises(ServerCopyRefused, match=r"steps\.firewall\.status: 'owned'"):
        merge_server_copy(LOCAL, data)
    # The caller keeps LOCAL: the good, newer base step did not sneak in on the way.
    assert LOCAL.step("base").status == "applied"


def test_a_password_line_in_front_of_the_json_is_refused_not_silently_dropped():
    # What the old sudo -S stdin did: the password line landed in front of the copy.
    text = "hunter2 $(touch${IFS}/tmp/x)\n" + json.dumps(written_copy())
    with pytest.raises(ServerCopyRefused) as refused:
        merge_server_copy(LOCAL, text)
    assert "not JSON" in refused.value.message
    assert "hunter2" not in str(refused.value)
    assert "password" in refused.value.hint


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, "1" * 5000, " " * (2 * 1024 * 1024)],
    ids=["nested deep", "number of 5000 digits", "2 MiB"],
)
def test_json_made_to_break_the_parser_is_refused(text):
    with pytest.raises(ServerCopyRefused):
        read_server_copy(text)


def test_an_escape_in_a_refused_field_is_shown_visibly_in_the_reason():
    data = written_copy()
    data["steps"]["base"]["status"] = "\x1b]0;owned\x07"
    with pytest.raises(ServerCopyRefused, match=r"'\\x1b\]0;owned\\x07' is not a step status"):
        read_server_copy(data)
