"""Operating on stored tasks from :class:`cronwell.Cronwell`: read, pause, resume, run now,
remove, preview, history and the scheduler's status, each through the task service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronwell.domain.run import Run, RunStatus
from cronwell.domain.schedule import Preview
from cronwell.domain.stats import TaskStats
from cronwell.domain.task import Task
from cronwell.service.status import SchedulerStatus, scheduler_status

if TYPE_CHECKING:
    from cronwell.clock import Clock
    from cronwell.dispatch import FunctionRegistry
    from cronwell.engine import Engine
    from cronwell.runtime.declared import Declarations
    from cronwell.service import TaskService
    from cronwell.settings import Settings
    from cronwell.store import Store


class TaskOperations:
    """Mixin for :class:`cronwell.Cronwell`; the attributes are the ones it builds."""

    settings: Settings
    clock: Clock
    engine: Engine
    store: Store
    registry: FunctionRegistry
    _declarations: Declarations | None

    if TYPE_CHECKING:

        @property
        def service(self) -> TaskService: ...

        @property
        def running(self) -> bool: ...

        def _ensure_ready(self) -> None: ...

    def get_task(self, task_id: str) -> Task:
        return self.service.get(task_id)

    def list_tasks(self, *, tag: str | None = None, enabled: bool | None = None) -> list[Task]:
        return self.service.list_tasks(tag=tag, enabled=enabled)

    def pause(self, task_id: str) -> Task:
        return self.service.pause(task_id)

    def resume(self, task_id: str, *, catch_up: bool = False) -> Task:
        """Fire the task again from now on; what fell while it was paused is recorded
        ``skipped``, or handled by its catch-up policy with ``catch_up=True``."""
        return self.service.resume(task_id, catch_up=catch_up)

    def task_stats(self, task_id: str) -> TaskStats:
        """Run count, failures, success rate, average and p95 duration, last success and
        last failure, consecutive failures."""
        return self.service.stats(task_id)

    def remove(self, task_id: str) -> None:
        declarations = self._declarations
        if declarations is not None and declarations.discard(task_id):  # not stored yet
            self.registry.unregister(task_id)
            return
        self.service.delete(task_id)
        self.registry.unregister(task_id)

    def run_now(self, task_id: str) -> Run:
        """Run the task now in the calling thread and return the recorded run."""
        return self.service.run_now(task_id)

    def preview(self, task_id: str, n: int = 5) -> Preview:
        return self.service.preview(task_id, n)

    def runs(
        self, task_id: str | None = None, *, status: RunStatus | None = None, limit: int = 50
    ) -> list[Run]:
        """Run history, newest first."""
        return self.service.list_runs(task_id=task_id, status=status, limit=limit)

    def summary(self) -> str:
        """Tasks grouped by schedule kind and sorted by time of day, as plain text."""
        return self.service.summary()

    def status(self) -> SchedulerStatus:
        """This instance's view: running, leader or standby, uptime, tasks, next fires."""
        self._ensure_ready()
        engine = self.engine
        return scheduler_status(
            self.store,
            self.clock.now(),
            engine.next_fire_times(),
            instance_id=self.settings.instance_id,
            running=self.running,
            is_leader=engine.is_leader,
            started_at=engine.started_at,
        )
