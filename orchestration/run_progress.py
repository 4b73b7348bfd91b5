"""`cdp run`'s overall progress: one line per step that starts, finishes, fails or is skipped, with
the steps done of the total and the time since the run began, written with rich so a terminal
shows them styled and a log file gets plain lines.

It is a Dagster logger, added only to the job `cdp run` executes: it reads the structured step
events Dagster sends every logger (at DEBUG level), whatever CDP_LOG_LEVEL hides from the console.
"""

from __future__ import annotations

import logging
import time

import dagster as dg
from rich.console import Console

#: steps that take long enough to say so when they start (the rest are announced when they end)
ANNOUNCED = ("cdp_dbt_models", "data_driven_attribution", "privacy__erasure", "serving__warehouse_copy")


class StepProgress(logging.Handler):
    """Counts a run's steps from Dagster's events and prints where the run is."""

    def __init__(self, total: int, console: Console | None = None) -> None:
        super().__init__(level=logging.DEBUG)
        self.total, self.done = total, 0
        self.started = time.perf_counter()
        self._step_started: dict[str, float] = {}
        self.console = console or Console(highlight=False, soft_wrap=True)

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        kind = getattr(event, "event_type_value", None)
        step = getattr(event, "step_key", None)
        if not step or kind not in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            return
        now = time.perf_counter()
        if kind == "STEP_START":
            self._step_started[step] = now
            if step.startswith(ANNOUNCED):
                self._line("dim", "running", step, None, now)
            return
        self.done += 1
        took = now - self._step_started.pop(step, now)
        style, word = {"STEP_SUCCESS": ("green", "done"), "STEP_FAILURE": ("bold red", "FAILED"),
                       "STEP_SKIPPED": ("yellow", "skipped")}[kind]
        self._line(style, word, step, took, now)

    def _line(self, style: str, word: str, step: str, took: float | None, now: float) -> None:
        spent = f" in {took:.1f}s" if took is not None else ""
        self.console.print(f"[{style}][{self.done}/{self.total}] {word:<8}[/{style}] {step}{spent}"
                           f"  [dim](run {now - self.started:.1f}s)[/dim]", markup=True)


def progress_logger(total_steps: int) -> dg.LoggerDefinition:
    """A Dagster logger definition that reports progress over `total_steps` steps."""

    @dg.logger(description="cdp run's progress: steps done of the total, and the time spent")
    def _progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger("cdp_run_progress", level=logging.DEBUG)
        logger.addHandler(StepProgress(total_steps))
        return logger

    return _progress
