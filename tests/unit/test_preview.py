"""A previewed run plans each step as the earlier ones would leave the server, and the apply
is held to what the preview showed."""

from __future__ import annotations

import dataclasses

import pytest

from wizard.answers import Answers
from wizard.errors import WizardError
from wizard.plan import CommandChange, FileChange, Plan
from wizard.preview import PlannedStep, Projection, refuse_unlike
from wizard.serverfiles import RemoteFile
from wizard.shell import code
from wizard.steps import Command, FileSpec, Step


def plan_of(step_id: str, files: dict[str, bytes], packages=(), enable=(), commands=()) -> Plan:
    """A plan of a step writing `files` to a server that has none of them."""
    step = Step(id=step_id, title=step_id, help="", packages=tuple(packages), enable=tuple(enable))
    return Plan(
        step=step,
        answers=Answers(step_id, {}),
        files=tuple(
            FileChange(FileSpec(template="t.j2", dest=dest), dest, content, None)
            for dest, content in files.items()
        ),
        commands=tuple(
            CommandChange(Command(run=run), code(run), None, None, True) for run in commands
        ),
        missing_packages=tuple(packages),
        services_to_enable=tuple(enable),
        packages=step.packages,
    )


def test_a_later_step_sees_the_earlier_steps_files_packages_and_services():
    projection = Projection()
    first = plan_of("first", {"/etc/shared.conf": b"a\n"}, packages=["nftables"], enable=["x"])
    projection.record(first)
    later = projection.assume(
        plan_of(
            "later",
            {"/etc/shared.conf": b"a\n", "/etc/own.conf": b"b\n"},
            packages=["nftables", "fail2ban"],
            enable=["x", "y"],
        )
    )
    statuses = {change.dest: change.status for change in later.files}
    # The file the first step writes the same way is unchanged by the later one; its own is new.
    assert statuses == {"/etc/shared.conf": "unchanged", "/etc/own.conf": "create"}
    assert later.missing_packages == ("fail2ban",)
    assert later.services_to_enable == ("y",)
    assert projection.changed_by == ["first"]


def test_a_file_an_earlier_step_writes_otherwise_is_diffed_against_that_version():
    projection = Projection()
    projection.record(plan_of("first", {"/etc/shared.conf": b"old\n"}))
    later = projection.assume(plan_of("later", {"/etc/shared.conf": b"new\n"}))
    change = later.files[0]
    assert change.status == "update"
    assert "-old" in change.diff() and "+new" in change.diff()
    assert isinstance(change.old, RemoteFile) and change.old.content == b"old\n"


def test_a_skipped_file_is_not_assumed_written():
    projection = Projection()
    first = plan_of("first", {"/etc/a.conf": b"a\n"}).with_approval("/etc/a.conf", False)
    projection.record(first)
    assert projection.assume(plan_of("later", {"/etc/a.conf": b"a\n"})).files[0].status == "create"


def test_the_apply_is_held_to_what_the_preview_showed():
    shown = PlannedStep(plan_of("s", {"/etc/a.conf": b"a\n"}, commands=["true"]))
    # The same files, packages and commands, whatever the server holds now: it goes on.
    on_server = plan_of("s", {"/etc/a.conf": b"a\n"}, commands=["true"])
    old = RemoteFile("/etc/a.conf", b"a\n", "0644", "root", "root")
    on_server = dataclasses.replace(
        on_server, files=tuple(dataclasses.replace(c, old=old) for c in on_server.files)
    )
    refuse_unlike(shown, on_server)
    for changed in (
        plan_of("s", {"/etc/a.conf": b"other\n"}, commands=["true"]),
        plan_of("s", {"/etc/a.conf": b"a\n", "/etc/b.conf": b"b\n"}, commands=["true"]),
        plan_of("s", {"/etc/a.conf": b"a\n"}, commands=["false"]),
    ):
        with pytest.raises(WizardError) as refused:
            refuse_unlike(shown, changed)
        assert "it was not applied, nor anything after it" in refused.value.message
        assert "plan it again" in (refused.value.hint or "")
    with pytest.raises(WizardError, match=r"/etc/b\.conf"):
        refuse_unlike(shown, plan_of("s", {"/etc/a.conf": b"a\n", "/etc/b.conf": b""}))
