"""The kernel-hardening and entropy steps in the TUI: each one's form opens from the overview
with its questions, and the review shows what it does: the sysctl drop-in as rendered from the
answers, and haveged's install command where the answer asks for it."""

from __future__ import annotations

from textual.widgets import RichLog

from screens.overview import OverviewScreen
from screens.questions import QuestionsScreen
from screens.review import ReviewScreen
from screens.widgets.diff_view import DiffView
from wizard.answers import validate_answers
from wizard.plan import CommandChange, FileChange, Plan, step_packages
from wizard.render import render_shell, render_template
from wizard.state import StepRecord

DROP_IN = "/etc/sysctl.d/99-vps-wizard-kernel.conf"
BEFORE = ("base", "admin-user", "ssh-hardening", "firewall", "fail2ban")


def verified(fake, *step_ids: str) -> None:
    for step_id in step_ids:
        fake.records[step_id] = StepRecord(step_id, "verified")


def kernel_plan(catalog) -> Plan:
    """The step's real plan on a server without the drop-in: the file new, the command to run."""
    step = catalog.get("kernel-hardening")
    answers = validate_answers(step, {"bbr": True, "tcp_buffers": "16MiB"})
    spec = step.files[0]
    content = render_template(step, spec.template, {"answers": answers.values})
    command = step.commands[0]
    change = CommandChange(command, render_shell(step, "sysctl --system", {}), None, None, True)
    return Plan(
        step,
        answers,
        (FileChange(spec, DROP_IN, content.encode(), None),),
        (change,),
        (),
        (),
        step.packages,
    )


async def open_form(app, pilot, settle, step_id: str) -> QuestionsScreen:
    await settle(pilot, until=lambda: isinstance(app.screen, OverviewScreen))
    assert app.screen.highlighted().step.id == step_id
    await pilot.press("enter")
    await settle(pilot, until=lambda: isinstance(app.screen, QuestionsScreen))
    assert app.screen.step.id == step_id
    return app.screen


async def test_kernel_hardening_form_and_its_drop_in_in_the_review(
    make_app, scripted, settle, fake, options, catalog
):
    verified(fake, *BEFORE)
    fake.plans["kernel-hardening"] = kernel_plan(catalog)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(app, pilot, settle, "kernel-hardening")
        assert [field.key for field in form.shown_fields] == ["bbr", "tcp_buffers"]
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        assert review.highlighted().dest == DROP_IN
        await pilot.pause()
        shown = "\n".join(
            line.text for line in review.query_one(DiffView).query_one("#unified", RichLog).lines
        )
        for line in (
            "+kernel.kptr_restrict = 2",
            "+net.ipv4.conf.all.accept_redirects = 0",
            "+net.ipv4.tcp_congestion_control = bbr",
            "+net.ipv4.tcp_rmem = 4096 131072 16777216",
        ):
            assert line in shown, shown


def entropy_plan(catalog) -> Plan:
    """The step's real plan when haveged is answered yes: haveged to install, its command to
    enable it to run."""
    step = catalog.get("entropy")
    answers = validate_answers(step, {"haveged": True})
    command = step.commands[0]
    context = {"answers": answers.values}
    run = render_shell(step, str(command.run), context)
    change = CommandChange(
        command, run, None, render_shell(step, command.unless or "", context), True
    )
    packages = step_packages(step, context)
    return Plan(step, answers, (), (change,), packages, (), packages)


async def test_entropy_form_asks_about_haveged_and_its_review_shows_the_install(
    make_app, scripted, settle, fake, options, catalog
):
    verified(fake, *BEFORE, "kernel-hardening")
    fake.plans["entropy"] = entropy_plan(catalog)
    app = make_app(options, scripted(fake))
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(app, pilot, settle, "entropy")
        assert [field.key for field in form.shown_fields] == ["haveged"]
        assert "5.6" in form.step.help
        await pilot.press("ctrl+n")
        await settle(pilot, until=lambda: isinstance(app.screen, ReviewScreen))
        assert app.screen.plan.step.id == "entropy"
        await pilot.pause()
        await pilot.pause()
        shown = "\n".join(
            line.text
            for line in app.screen.query_one(DiffView).query_one("#unified", RichLog).lines
        )
        assert "Packages to install: haveged" in shown, shown
        assert "runs    (after) systemctl enable --now haveged" in shown, shown
