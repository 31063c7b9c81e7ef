"""The Textual app: one screen per stage of a step, the engine driven from thread workers.

The app owns the session and every worker. Screens ask by posting messages; workers answer by
posting messages (see screens/messages.py); one handler turns any worker error into an error
modal, so no screen ever shows a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.filter import LineFilter
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from screens.connect import ConnectScreen
from screens.engine import engine_preview, engine_session
from screens.messages import (
    AnswersReady,
    AnswersRefused,
    BackToOverview,
    HostKeyUnknown,
    RunPreviewed,
    SessionOpened,
    VerifyEnded,
    WorkFailed,
)
from screens.settings import SETTINGS_FILE, TuiSettings
from screens.text import NoControlCharacters
from wizard.endpoint import Stats
from wizard.errors import AnswerError, HostKeyChanged, UnknownHostKey, WizardError
from wizard.visible import visible

if TYPE_CHECKING:
    # The first screen is drawn before the engine and the step catalog load (they come after
    # it, in a worker): the engine's types are named here for the checker, its code imported
    # where it runs, as are the screens that come later, whose messages the app handles by
    # their handler names (on_overview_screen_step_chosen, ...) rather than with @on, which
    # would need their classes. tests/tui/test_startup_budget.py measures it.
    from screens.apply import ApplyScreen
    from screens.applylog import ApplyLog
    from screens.engine import RunPreview, Selection, SessionFactory, WizardSession
    from screens.overview import OverviewScreen
    from screens.questions import QuestionsScreen
    from screens.review import ReviewScreen
    from screens.review_all import Refused, ReviewAllScreen, RunPlan
    from screens.verify import VerifyScreen
    from wizard.catalog import Catalog
    from wizard.checks.base import CheckResult
    from wizard.endpoint import ConnectOptions
    from wizard.plan import Plan
    from wizard.preview import PlannedStep
    from wizard.reveal import Secret
    from wizard.state import StateStore
    from wizard.steps import Step
    from wizard.workflow import Applied, ApplyRolledBack, Decision, Event, Review, RunEnd

QUIT_CONFIRM_SECONDS = 6.0
# How often a run's worker, waiting for the user's answer, looks whether the app has quit.
ANSWER_POLL_SECONDS = 0.2
# How often the overview's preload looks whether the connect has reached the network.
PRELOAD_POLL_SECONDS = 0.01

# The steps "review everything" plans: not applied yet, or made outdated by another.
RUN_STATUSES = ("pending", "outdated")

ScreenT = TypeVar("ScreenT", bound=Screen[Any])

# What the error modal says failed, by worker group.
ERROR_TITLES = {
    "connect": "Could not connect",
    "session": "Could not prepare the step",
    "apply": "The apply did not finish",
    "verify": "The checks did not finish",
}


class _AppGone(Exception):
    """The app quit, or another run replaced this one, while its worker waited on the user:
    the run stops where it is (nothing more is changed)."""


class WizardApp(App[None]):
    """From a fresh server to a hardened one, one reviewed step at a time."""

    TITLE = "vps-wizard"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        # q is typed into a form's field; ctrl+q (Textual's) quits from there too.
        Binding("q", "quit", "Quit"),
        Binding("f1,question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        catalog: Catalog | None,
        store: StateStore,
        options: ConnectOptions | None,
        session_factory: SessionFactory = engine_session,
        run_preview: RunPreview = engine_preview,
    ) -> None:
        super().__init__()
        # None: the shipped and the user's steps, read and checked after the first screen is
        # drawn and before any connection (a refused step file is an error screen).
        self._catalog = catalog
        self._catalog_lock = threading.Lock()
        self.store = store
        self.options = options
        self.session_factory = session_factory
        self.run_preview = run_preview
        # A run being applied from "review everything".
        self._run: RunPlan | None = None
        # Where the run's worker is: "session" (planning), "apply" or "verify"; its errors are
        # titled, and the screens waiting on that phase told, accordingly.
        self._phase = ""
        # The review screen the run's worker waits on, its answer, and what leaving it means.
        self._reviewing: tuple[ReviewScreen, Future[Any], Decision] | None = None
        # The run's worker while it waits for that answer.
        self._waiting: Worker[Any] | None = None
        self.session: WizardSession | None = None
        self.stats = Stats()
        self._quit_armed = False
        # The files each step's last apply in this session skipped, for the checks' hints.
        self.skipped: dict[str, tuple[str, ...]] = {}
        self._no_control_characters = NoControlCharacters()
        # Theme and unapplied answers, kept beside the state database.
        self.settings = TuiSettings(store.path.parent / SETTINGS_FILE)
        # Set before the first screen is styled: from on_mount it restyled it once more.
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.host_name = self._host_name(options) if options is not None else ""
        self.last_apply: ApplyLog | None = None

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then the one that keeps control characters from the terminal:
        every line of every widget passes it, whatever the widget was given to show."""
        return [*super().get_line_filters(), self._no_control_characters]

    @staticmethod
    def _host_name(options: ConnectOptions) -> str:
        """The server as the drafts of its answers are filed: address and port."""
        return f"{options.target.host}:{options.target.port or 22}"

    def on_mount(self) -> None:
        # With a server given, the connect screen connects at once and stays only to show
        # progress, a host key question, or an error to correct in place.
        self.push_screen(
            ConnectScreen(self.options, connect_now=self.options is not None, stats=self.stats)
        )

    async def action_quit(self) -> None:
        """Quit; while an apply runs, only on a second press, after saying what happens."""
        applying = self._phase == "apply" and self._work_running()
        if applying and not self._quit_armed:
            self._quit_armed = True
            self.notify(
                "An apply is running on the server. Press q again to quit: the wizard then "
                "waits for the server to finish (or roll back) before it exits.",
                title="Apply in progress",
                severity="warning",
                timeout=QUIT_CONFIRM_SECONDS,
            )
            self.set_timer(QUIT_CONFIRM_SECONDS, self._disarm_quit)
            return
        if applying:
            # The worker thread cannot be stopped: the process exits when the engine returns,
            # after it has recorded the result.
            self.exit(message="Waiting for the apply on the server to finish…")
            return
        self.exit()

    def _disarm_quit(self) -> None:
        self._quit_armed = False

    def watch_theme(self, theme: str) -> None:
        """Keep the chosen theme for the next start."""
        if theme != self.settings.theme:
            self.settings.theme = theme

    # ------------------------------------------------------------------ help, focus, palette
    def action_help(self) -> None:
        """The help of the screen in front: its step's help and its keys."""
        from screens.help import HelpModal, screen_keys, screen_step

        if isinstance(self.screen, HelpModal):
            return
        self.push_screen(HelpModal(screen_step(self.screen), screen_keys(self, self.screen)))

    def pop_screen(self) -> Any:
        """Pop, then give focus back: after a dialog, the screen under it has none when the
        widget it had was disabled meanwhile (a form locked while connecting, say)."""
        popped = self.screen
        result = super().pop_screen()
        self._left(popped)
        revealed = self.screen
        self.call_after_refresh(self._refocus, revealed)
        return result

    def _refocus(self, screen: Screen[Any]) -> None:
        # Only the screen the pop revealed, if it is still in front (a pop to the overview
        # followed by a push has its own focus). A scrolling container holding the focus
        # shows none: the user sees nothing focused.
        if self.screen is not screen:
            return
        if screen.focused is not None and not isinstance(screen.focused, ScrollableContainer):
            return
        for widget in screen.focus_chain:
            if not isinstance(widget, ScrollableContainer):
                widget.focus()
                return

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's commands, then the wizard's: go to a step, verify all, side by side, the
        last apply's log (each offered only where it can run now)."""
        yield from super().get_system_commands(screen)
        if self.session is None or self._work_running():
            return
        from screens.review import ReviewScreen

        if isinstance(screen, ReviewScreen):
            yield SystemCommand(
                "Toggle side by side",
                "The diff unified or side by side (s)",
                screen.action_toggle_view,
            )
        if self.last_apply is not None:
            yield SystemCommand(
                "Show the last apply's log",
                f"{self.last_apply.step_id}: every line it reported (l on the overview)",
                self.action_show_apply_log,
            )
        statuses = self.live_session.overview()
        waiting = [s.step.id for s in statuses if s.record.status in RUN_STATUSES]
        if waiting and self._run is None:
            yield SystemCommand(
                "Review everything",
                "Plan every step not applied yet as one run, then apply all, step by step (R)",
                self.action_review_all,
            )
        applied = [s.step.id for s in statuses if s.record.status != "pending"]
        if applied:
            yield SystemCommand(
                "Verify all",
                f"Run the checks of every applied step: {', '.join(applied)}",
                lambda: self.call_later(self.start_verify, applied, "Every applied step: checks"),
            )
        for status in statuses:
            if not status.blocked_by:
                step = status.step
                yield SystemCommand(
                    f"Go to step: {step.id}",
                    f"{step.title} ({status.record.status}): open its questions",
                    lambda step=step: self.call_later(self.go_to_step, step),
                )

    def _work_running(self) -> bool:
        return any(
            w.group in ("run", "verify", "session") and w.is_running and not self.waits_for_user(w)
            for w in self.workers
        )

    async def go_to_step(self, step: Step) -> None:
        """Open a step's questions from anywhere (the palette's 'Go to step')."""
        await self.pop_to_overview()
        self.load_answers(step)

    def action_show_apply_log(self) -> None:
        """The last apply's log, opened again."""
        from screens.applylog import ApplyLogScreen

        if self.last_apply is None:
            self.notify("No apply yet in this session.")
            return
        self.push_screen(ApplyLogScreen(self.last_apply))

    def call_screen(self, callback: Callable[..., object], *args: object) -> None:
        """Run a screen's method from a worker thread; never raises into the engine.

        The engine calls this from inside an apply or a verify: a screen that is gone, or an
        app that has quit, must not turn a progress line into a failed apply.
        """
        with contextlib.suppress(Exception):
            if self.is_running:
                self.call_from_thread(callback, *args)

    @property
    def catalog(self) -> Catalog:
        """The step catalog (loaded by the connect worker before anything connects)."""
        if self._catalog is None:
            raise RuntimeError("no catalog: the app has not connected yet")
        return self._catalog

    def load_catalog(self) -> Catalog:
        """The catalog given, else the shipped and the user's steps, read and checked; a
        refused step file raises its WizardError, and is read again at the next try."""
        with self._catalog_lock:
            if self._catalog is None:
                from wizard.catalog import load_catalog

                self._catalog = load_catalog()
            return self._catalog

    @property
    def live_session(self) -> WizardSession:
        """The connected session (workers run only after SessionOpened)."""
        if self.session is None:
            raise RuntimeError("no session: the app is not connected yet")
        return self.session

    # ------------------------------------------------------------------ errors
    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors are shown: a modal with the message and the hint."""
        if event.state is not WorkerState.ERROR or event.worker.error is None:
            return
        error = event.worker.error
        group = self._phase if event.worker.group == "run" else event.worker.group
        self._phase = ""
        title = ERROR_TITLES.get(group, "Something went wrong")
        if isinstance(error, HostKeyChanged):
            title = "The server's host key has CHANGED: not connected"
        self.show_error(title, error, group)

    def show_error(self, title: str, error: BaseException, group: str) -> None:
        """Show the error modal and tell the screens waiting on `group` to stop waiting."""
        from screens.error import ErrorModal

        self.push_screen(ErrorModal.from_exception(title, error))
        self._run = None
        for screen in self.screen_stack:
            screen.post_message(WorkFailed(group))

    # ------------------------------------------------------------------ connect
    @on(ConnectScreen.Submitted)
    def _connect_submitted(self, event: ConnectScreen.Submitted) -> None:
        self.sub_title = str(event.options.target)
        self.host_name = self._host_name(event.options)
        self.connect(event.options)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connect", description="connect")
    def connect(self, options: ConnectOptions) -> None:
        """Check the steps, then open the session; an unknown host key becomes a question, not
        an error. A step file refused stops it before anything connects."""
        try:
            catalog = self.load_catalog()
        except WizardError as error:
            self.call_from_thread(self.show_error, "A step definition is refused", error, "connect")
            return
        # Workers start on the event loop (this thread waits a moment for it), and a preload
        # that cannot start (the app quitting) must not fail the connect.
        self.call_screen(self.preload_overview, get_current_worker())
        try:
            session = self.session_factory(catalog, self.store, options, self.stats)
        except UnknownHostKey as error:
            self.post_message(HostKeyUnknown(error, options))
            return
        self.post_message(SessionOpened(session))

    @work(thread=True, exit_on_error=False, group="preload", description="preload")
    def preload_overview(self, connect: Worker[None]) -> None:
        """Import the overview (its screen, Textual's DataTable and Markdown with markdown-it
        and Pygments: about 0.05 s of CPU) once the connect waits on the network (its SSH
        handshake, then the facts), so that the overview does not wait for them after. Not
        sooner: it would only take turns with the connect's own imports (one interpreter
        lock), and the connection would start later by as much."""
        while self.stats.current == "other" and connect.is_running:
            time.sleep(PRELOAD_POLL_SECONDS)
        from screens.overview import help_widget

        help_widget()

    @on(HostKeyUnknown)
    def _host_key_unknown(self, event: HostKeyUnknown) -> None:
        from screens.hostkey import HostKeyModal

        def answered(trust: bool | None) -> None:
            screen = self.find_screen(ConnectScreen)
            if trust:
                if screen is not None:
                    screen.set_busy(True, f"trusting {event.error.fingerprint}, connecting…")
                accepted = dataclasses.replace(
                    event.options, accept_fingerprint=event.error.fingerprint
                )
                self.connect(accepted)
            elif screen is not None:
                screen.set_busy(False, "host key not trusted: not connected")

        self.push_screen(HostKeyModal(event.error), answered)

    @on(SessionOpened)
    def _session_opened(self, event: SessionOpened) -> None:
        from screens.overview import OverviewScreen
        from screens.reset import ResetModal

        self.session = event.session
        self.switch_screen(OverviewScreen(event.session))
        if event.session.reset is not None:
            self.push_screen(ResetModal(event.session.reset), self._reset_answered)

    async def _reset_answered(self, choice: str | None) -> None:
        """Start over (in a worker: it archives and reads the server again), verify the
        claimed steps one screen of checks, or leave them unconfirmed for now."""
        reset = self.live_session.reset
        if reset is None:
            return
        if choice == "start-over":
            self.start_over()
        elif choice == "verify":
            await self.start_verify(reset.claimed, "What is still true on the server")

    @work(thread=True, exclusive=True, exit_on_error=False, group="session", description="reset")
    def start_over(self) -> None:
        """Archive the old record and show the steps afresh."""
        session = self.live_session
        session.start_over()
        self.post_message(SessionOpened(session))

    # ------------------------------------------------------------------ questions and plan
    def on_overview_screen_step_chosen(self, event: OverviewScreen.StepChosen) -> None:
        self.load_answers(event.step)

    @work(thread=True, exclusive=True, exit_on_error=False, group="session", description="answers")
    def load_answers(self, step: Step) -> None:
        """The form's prefilled answers (defaults may be computed from the facts)."""
        self.post_message(AnswersReady(step, self.live_session.default_answers(step)))

    @on(AnswersReady)
    def _answers_ready(self, event: AnswersReady) -> None:
        from screens.questions import QuestionsScreen

        if event.step.questions:
            draft = self.settings.draft(self.host_name, event.step.id)
            self.push_screen(QuestionsScreen(event.step, event.defaults, draft))
            if draft:
                self.notify(
                    "The answers you typed before, not applied yet, are back in the form.",
                    title=f"{event.step.id}: your answers",
                )
        else:
            self.make_plan(event.step, {})

    def on_questions_screen_edited(self, event: QuestionsScreen.Edited) -> None:
        if event.changed:
            self.settings.keep_draft(self.host_name, event.step.id, event.changed)
        else:
            self.settings.drop_draft(self.host_name, event.step.id)

    def on_questions_screen_submitted(self, event: QuestionsScreen.Submitted) -> None:
        self.make_plan(event.step, event.raw)

    def make_plan(self, step: Step, raw: dict[str, Any]) -> None:
        """The step's run: planned, reviewed, applied, its follow-ups, its checks."""
        self.drive([(step.id, raw)])

    @on(AnswersRefused)
    def _answers_refused(self, event: AnswersRefused) -> None:
        from screens.questions import QuestionsScreen

        form = self.find_screen(QuestionsScreen)
        if form is None or form.step.id != event.step.id or not form.refuse(event.error):
            self.show_error("The answers were refused", event.error, "session")

    # ------------------------------------------------------------------ a run (wizard.workflow)
    @work(thread=True, exclusive=True, exit_on_error=False, group="run", description="run")
    def drive(self, selection: Selection, previewed: Sequence[PlannedStep] = ()) -> None:
        """Step through the engine's workflow: every question it asks becomes a screen, and
        this thread waits for the user's answer; what it reports goes to the screens."""
        from wizard.workflow import RunEnd, run_steps

        self._phase = "session"
        workflow = run_steps(self.live_session, selection, previewed)
        answer: Any = None
        try:
            while True:
                event = workflow.send(answer)
                answer = self._on_run_event(event)
        except StopIteration as ended:
            self._phase = ""
            self.call_screen(self._run_ended, RunEnd(ended.value))
        except AnswerError as error:
            # To the form's field when it names one (the message says which step's).
            self._phase = ""
            self.post_message(AnswersRefused(self.catalog.get(selection[0][0]), error))
        except _AppGone:
            workflow.close()

    def _on_run_event(self, event: Event) -> Any:
        """What the user answers to one event of the run (on the event loop, waited for)."""
        from wizard.workflow import (
            Adopted,
            Applied,
            Applying,
            ApplyRolledBack,
            ConfirmSecondAdmin,
            Revealed,
            Review,
            Stopped,
            Verified,
            Verifying,
        )

        match event:
            case Review():
                return self._wait_for(self._review, event)
            case ConfirmSecondAdmin(warning=warning):
                return bool(self._wait_for(self._confirm_second_admin, warning))
            case Applying(plan=plan):
                self._phase = "apply"
                screen = self._show(self._applying, plan)
                return lambda line: self.call_screen(self._apply_event, screen, line)
            case Applied() | ApplyRolledBack():
                self._show(self._apply_ended, event)
                self._phase = "session"
            case Revealed(plan=plan, secrets=secrets):
                return self._wait_for(self._reveal, plan.step.id, secrets)
            case Adopted(plan=plan):
                self._show(self._adopted, plan)
            case Verifying(step_ids=step_ids, heading=heading):
                self._phase = "verify"
                screen = self._show(self._verifying, list(step_ids), heading)
                return lambda step_id, result: self.call_screen(screen.add_result, step_id, result)
            case Verified(results=results):
                self._show(self._verified, results)
                self._phase = "session"
            case Stopped(why=why):
                self._show(self.end_run, why)
        return None

    def _show(self, callback: Callable[..., Any], *args: Any) -> Any:
        """Run a callback on the event loop and return its result; _AppGone once the app
        has quit (the run then stops where it is)."""
        if not self.is_running:
            raise _AppGone
        try:
            return self.call_from_thread(callback, *args)
        except RuntimeError as error:
            raise _AppGone from error

    def _wait_for(self, ask: Callable[..., Any], *args: Any) -> Any:
        """Show a question and wait, in the worker, for the user's answer."""
        answer: Future[Any] = Future()
        worker = self._waiting = get_current_worker()
        try:
            self._show(ask, answer, *args)
            while True:
                try:
                    return answer.result(timeout=ANSWER_POLL_SECONDS)
                except FutureTimeout:
                    # Quit, or another run started (a run's worker is exclusive).
                    if not self.is_running or worker.is_cancelled:
                        raise _AppGone from None
        finally:
            self._waiting = None

    def waits_for_user(self, worker: Worker[Any]) -> bool:
        """True while this worker is a run waiting for the user's answer, not working."""
        return worker is self._waiting

    async def _review(self, answer: Future[Any], event: Review) -> None:
        """A plan with changes: in a reviewed run, y/n/stop; otherwise its review screen."""
        from screens.questions import QuestionsScreen
        from screens.review import ReviewScreen
        from screens.review_all import ConfirmStepModal
        from wizard.workflow import Decision

        form = self.find_screen(QuestionsScreen)
        if form is not None:
            form.set_busy(False)
        if event.shown is not None and not event.cause:
            choices = {"yes": Decision.APPLY, "no": Decision.SKIP}

            def answered(choice: str | None) -> None:
                if choice == "no":
                    self.notify(f"{event.plan.step.id} left as it is.", title="Not applied")
                answer.set_result(choices.get(choice or "", Decision.STOP))

            modal = ConfirmStepModal(event.shown, event.position, event.installs)
            self.push_screen(modal, answered)
            return
        if event.cause:
            await self.pop_to_overview()
        screen = ReviewScreen(event.plan, event.reason)
        # Leaving a step's review (back, or anywhere else) stops the run there, back at its
        # questions; leaving a follow-up's leaves that step outdated and goes on.
        self._reviewing = (screen, answer, Decision.SKIP if event.cause else Decision.STOP)
        await self.push_screen(screen)

    async def on_review_screen_apply_chosen(self, event: ReviewScreen.ApplyChosen) -> None:
        if self._reviewing is not None:
            _, answer, _ = self._reviewing
            self._reviewing = None
            if not answer.done():
                answer.set_result(event.plan)  # with the files as the user approved them

    def _left(self, screen: Screen[Any]) -> None:
        """A screen was closed: if the run waits on its review, that is the user's answer."""
        if self._reviewing is not None and self._reviewing[0] is screen:
            _, answer, left = self._reviewing
            self._reviewing = None
            if not answer.done():
                answer.set_result(left)

    def _confirm_second_admin(self, answer: Future[Any], warning: str) -> None:
        from screens.confirm import ConfirmModal

        self.push_screen(
            ConfirmModal("A second admin", warning, "Add the second admin"),
            lambda yes: answer.set_result(bool(yes)),
        )

    def _reveal(self, answer: Future[Any], step_id: str, secrets: tuple[Secret, ...]) -> None:
        """The secrets over the apply's screen until the user says they are stored (never
        into the apply's log)."""
        from screens.reveal import RevealModal

        self.push_screen(RevealModal(step_id, secrets), lambda _: answer.set_result(None))

    async def _applying(self, plan: Plan) -> ApplyScreen:
        """The apply's screen over the overview."""
        from screens.apply import ApplyScreen
        from screens.applylog import ApplyLog

        await self.pop_to_overview()
        screen = ApplyScreen(plan)
        self.last_apply = ApplyLog(plan.step.id, plan.summary())
        await self.push_screen(screen)
        return screen

    def _apply_event(self, screen: ApplyScreen, line: str) -> None:
        """One line of the apply: on its screen, and kept to be read again later."""
        if self.last_apply is not None:
            self.last_apply.lines.append(line)
        screen.add_event(line)

    def _apply_ended(self, event: Applied | ApplyRolledBack) -> None:
        from screens.apply import ApplyScreen
        from screens.skipped import skipped_files
        from wizard.workflow import ApplyRolledBack

        screen = self.find_screen(ApplyScreen)
        step_id = event.plan.step.id
        if isinstance(event, ApplyRolledBack):
            if self.last_apply is not None:
                self.last_apply.ending = f"failed, rolled back: {event.failure.message}"
            if screen is not None:
                screen.failed(event.failure)
            self.end_run(f"{step_id} failed and was rolled back")
            return
        if self.last_apply is not None:
            self.last_apply.ending = f"applied (run {event.outcome.run_id})"
        self.settings.drop_draft(self.host_name, step_id)
        if screen is not None:
            screen.succeeded(event.outcome)
        self.skipped[step_id] = skipped_files(event.plan)

    def _adopted(self, plan: Plan) -> None:
        """The server already matched: the step is recorded as applied."""
        from screens.questions import QuestionsScreen

        form = self.find_screen(QuestionsScreen)
        if form is not None:
            form.set_busy(False)
        self.notify(visible(plan.summary()), title="Nothing to change", markup=False)

    def _run_ended(self, end: RunEnd) -> None:
        from wizard.workflow import RunEnd

        if self._run is not None and end is RunEnd.DONE:
            self.notify("Every step of the run was asked about.", title="Run finished")
        self._run = None

    def end_run(self, why: str) -> None:
        """Say why a run of several steps stopped: nothing after this point is changed."""
        if self._run is None:
            return
        self._run = None
        self.notify(f"The run stopped ({why}); nothing more was changed.", title="Run stopped")

    # ------------------------------------------------------------------ review everything
    def action_review_all(self) -> None:
        """Plan every step not applied yet as one run (R on the overview)."""
        if self.session is None or self._work_running() or self._run is not None:
            self.notify("Not now: something is running.", severity="warning")
            return
        self.preview_run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="session", description="preview")
    def preview_run(self) -> None:
        """The pending and outdated steps in catalog order, with the answers typed (kept as
        drafts) or their defaults, planned by the engine as one run before anything changes."""
        from screens.review_all import Refused, RunPlan

        session = self.live_session
        waiting = [s for s in session.overview() if s.record.status in RUN_STATUSES]
        ids = {s.step.id for s in waiting}
        answers: dict[str, dict[str, Any]] = {}
        refused: list[Refused] = []
        for status in waiting:
            if not set(status.blocked_by) <= ids:
                continue  # waits for a step that is neither applied nor in the run
            step = status.step
            # The answers typed (kept as drafts); the engine fills in the defaults, as the
            # earlier steps of the run leave them (a default may come from their answers).
            raw = dict(self.settings.draft(self.host_name, step.id))
            answers[step.id] = raw
            try:
                session.validate(step, raw)
            except AnswerError as error:
                refused.append(Refused(step, error.message))
        # The run goes as far as the first step whose answers are refused.
        first = refused[0].step.id if refused else None
        ids_in_order = list(answers)
        selected = ids_in_order[: ids_in_order.index(first)] if first else ids_in_order
        planned = self.run_preview(session, [(i, answers[i]) for i in selected]) if selected else []
        left_out = tuple(
            i for i in ids_in_order[len(selected) :] if i not in {r.step.id for r in refused}
        )
        self.post_message(RunPreviewed(RunPlan(tuple(planned), answers, tuple(refused), left_out)))

    @on(RunPreviewed)
    async def _run_previewed(self, event: RunPreviewed) -> None:
        from screens.review_all import ReviewAllScreen

        await self.pop_to_overview()
        await self.push_screen(ReviewAllScreen(event.run))

    async def on_review_all_screen_open_step(self, event: ReviewAllScreen.OpenStep) -> None:
        await self.go_to_step(event.step)

    async def on_review_all_screen_apply_all_chosen(
        self, event: ReviewAllScreen.ApplyAllChosen
    ) -> None:
        run = event.run
        self._run = run
        await self.pop_to_overview()
        self.drive([(step_id, run.answers.get(step_id, {})) for step_id in run.steps], run.planned)

    # ------------------------------------------------------------------ verify
    async def on_overview_screen_verify_chosen(self, event: OverviewScreen.VerifyChosen) -> None:
        await self.start_verify([event.step.id], f"{event.step.title}: checks")

    async def _verifying(self, step_ids: list[str], heading: str) -> VerifyScreen:
        """The checks' screen over the overview."""
        from screens.verify import VerifyScreen

        await self.pop_to_overview()
        screen = VerifyScreen(step_ids, heading, self.skipped)
        await self.push_screen(screen)
        return screen

    async def start_verify(self, step_ids: Iterable[str], heading: str) -> None:
        """Show the verify screen over the overview and run the checks (outside a run)."""
        step_ids = list(step_ids)
        self.verify(step_ids, await self._verifying(step_ids, heading))

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify", description="verify")
    def verify(self, step_ids: list[str], screen: VerifyScreen) -> None:
        """Run the checks, each result shown as it arrives."""
        results = self.live_session.verify(
            step_ids, lambda step_id, result: self.call_screen(screen.add_result, step_id, result)
        )
        self.post_message(VerifyEnded(results))

    @on(VerifyEnded)
    def _verify_ended(self, event: VerifyEnded) -> None:
        self._verified(event.results)

    def _verified(self, results: dict[str, list[CheckResult]]) -> None:
        from screens.verify import VerifyScreen

        screen = self.find_screen(VerifyScreen)
        if screen is not None:
            screen.show_results(results)

    # ------------------------------------------------------------------ navigation
    @on(BackToOverview)
    async def _back_to_overview(self) -> None:
        await self.pop_to_overview()

    async def pop_to_overview(self) -> None:
        """Close every screen above the overview (it reloads the statuses when shown)."""
        from screens.overview import OverviewScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, OverviewScreen):
            await self.pop_screen()

    def find_screen(self, kind: type[ScreenT]) -> ScreenT | None:
        """The topmost screen of that kind on the stack, if any."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, kind):
                return screen
        return None


def run_tui(catalog: Catalog | None, store: StateStore, options: ConnectOptions | None) -> Stats:
    """Run the wizard's TUI until the user quits; returns the round-trip counters. Without a
    catalog, the app reads the steps after drawing its first screen, before it connects."""
    app = WizardApp(catalog, store, options)
    try:
        app.run()
    finally:
        if app.session is not None:
            from wizard.session import Session

            if isinstance(app.session, Session):
                app.session.close()
    return app.stats
