"""A step's checks: one row per check with its verdict; the selected one's evidence and hint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Footer, Header, LoadingIndicator, Static

from screens.running import RunningScreen
from screens.skipped import skip_hint
from screens.text import shown
from wizard.checks.base import CheckResult, CheckStatus

ICONS: dict[CheckStatus, tuple[str, str]] = {
    CheckStatus.OK: ("✔", "bold green"),
    CheckStatus.WARN: ("!", "bold yellow"),
    CheckStatus.FAIL: ("✘", "bold red"),
}


def icon(result: CheckResult) -> Text:
    """The verdict as one coloured character."""
    char, style = ICONS[result.status]
    return Text(char, style=style)


def details(result: CheckResult, skipped_hint: str = "") -> Text:
    """What the check saw, and what to do when it is not ok (evidence quotes the server);
    `skipped_hint` says which files the step's last apply left out, for a check not ok."""
    text = shown(f"{result.check_id}: {result.summary}", style="bold")
    if result.hint:
        text.append_text(shown(f"\n→ {result.hint}", style="yellow"))
    if skipped_hint and result.status is not CheckStatus.OK:
        text.append_text(shown(f"\n→ {skipped_hint}", style="yellow"))
    if result.evidence:
        text.append("\n\n")
        text.append_text(shown(result.evidence, style="dim"))
    return text


class VerifyScreen(RunningScreen):
    """The results of the checks of some steps, as they arrive."""

    CSS_PATH = "verify.tcss"
    # A tall terminal shows more rows of the list (see the .tcss).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,b", "back", "Back to overview"),
    ]
    WORK_GROUP = "verify"
    UNFINISHED = "the checks did not finish; see the error"

    def __init__(
        self,
        step_ids: Iterable[str],
        title: str,
        skipped: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__()
        self.step_ids = tuple(step_ids)
        self.heading = title
        # The files each step's last apply skipped: named in the hints of its checks.
        self.skipped = {k: v for k, v in (skipped or {}).items() if v}
        self.results: list[CheckResult] = []
        self.result_steps: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(shown(self.heading), id="heading")
        yield DataTable(id="results", cursor_type="row")
        with VerticalScroll(id="details-panel"):
            yield Static("", id="details")
        with Horizontal(id="actions"):
            yield LoadingIndicator(id="busy")
            yield Static("running the checks…", id="status", markup=False)
            yield Button("Back to overview", id="back", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{', '.join(self.step_ids)}: verify"
        table = self.query_one("#results", DataTable)
        table.add_column("", key="icon", width=1)
        table.add_column("Check", key="check")
        table.add_column("Summary", key="summary")
        table.focus()
        self.add_class("-running")
        self.query_one("#back", Button).disabled = True

    def add_result(self, step_id: str, result: CheckResult) -> None:
        """One result as it arrives (called from the worker via call_from_thread)."""
        self.results.append(result)
        self.result_steps.append(step_id)
        self._add_row(result)

    def show_results(self, by_step: dict[str, list[CheckResult]]) -> None:
        """All results, in the steps' order (they arrive in the order they finish)."""
        self.work_ended()
        ordered = [(s, r) for s in self.step_ids for r in by_step.get(s, [])]
        self.result_steps = [s for s, _ in ordered]
        self.results = [r for _, r in ordered]
        table = self.query_one("#results", DataTable)
        table.clear()
        for result in self.results:
            self._add_row(result)
        counts = dict.fromkeys(CheckStatus, 0)
        for result in self.results:
            counts[result.status] += 1
        status = self.query_one("#status", Static)
        if not self.results:
            status.update("this step has no checks")
        else:
            status.update(
                f"{counts[CheckStatus.OK]} ok, {counts[CheckStatus.WARN]} warning(s), "
                f"{counts[CheckStatus.FAIL]} failed"
            )
            status.set_class(counts[CheckStatus.FAIL] > 0, "-fail")
        self._show_details()

    def work_ended(self) -> None:
        """The checks are over (or failed): stop the spinner, allow going back."""
        super().work_ended()
        self.remove_class("-running")

    def _add_row(self, result: CheckResult) -> None:
        table = self.query_one("#results", DataTable)
        table.add_row(icon(result), shown(result.check_id), shown(result.summary))
        if len(self.results) == 1 or table.row_count == 1:
            self._show_details()

    @on(DataTable.RowHighlighted, "#results")
    @on(DataTable.RowSelected, "#results")
    def _show_details(self) -> None:
        table = self.query_one("#results", DataTable)
        row = table.cursor_row
        panel = self.query_one("#details", Static)
        if 0 <= row < len(self.results) and table.row_count:
            step_id = self.result_steps[row]
            skipped = self.skipped.get(step_id, ())
            panel.update(details(self.results[row], skip_hint(step_id, skipped) if skipped else ""))
        else:
            panel.update("")
