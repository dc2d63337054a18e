"""The seam between scheduling and execution: what the engine, recovery and the service
ask of a dispatcher. :class:`~cronwell.dispatch.local.LocalDispatcher` runs actions on
threads of this process; another executor (a task queue's workers) plugs in here."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from cronwell.dispatch.catchup import Backlog
from cronwell.dispatch.fire import Fire
from cronwell.dispatch.outage import Outage
from cronwell.domain.run import Run
from cronwell.domain.task import Task


class Dispatcher(Protocol):
    """Records each fire as a run row before its action starts (DESIGN rule 2), decides
    it (overlap, misfire grace, max instances), runs it and records how it ended, with
    what follows (retries, failure streaks, automatic pauses)."""

    @property
    def outage(self) -> Outage:
        """Whether the database answers, as this dispatcher's last writes found."""
        ...

    def submit(self, fires: Sequence[Fire]) -> None:
        """Queue fires due now; returns at once (the engine's timer thread calls it)."""
        ...

    def execute_claimed(self, run: Run, task: Task) -> None:
        """Run a row that is already ``running`` (a pending run the engine claimed)."""
        ...

    def report_external(self, runs: Sequence[tuple[Run, Task, bool]]) -> None:
        """Count and announce runs that ended elsewhere (abandoned by a process that
        died): ``(run, task, retrying)``."""
        ...

    def hand_over(
        self,
        backlogs: Sequence[Backlog],
        tasks: Mapping[str, Task],
        cancel: threading.Event | None = None,
    ) -> None:
        """Store a catch-up's missed rows and record and start its runs, each task's runs
        only after its own rows; nothing more once ``cancel`` is set."""
        ...

    def run_inline(self, task: Task, scheduled_for: datetime, reason: str) -> Run:
        """Record and run one occurrence in the calling thread; the finished run."""
        ...
