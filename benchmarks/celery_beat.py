"""The Celery beat baseline of the ``celery`` scenario: a real ``celery beat`` whose
schedule holds N entries due at one instant.

``celery -A benchmarks.celery_beat beat -S benchmarks.celery_beat:CountingScheduler``
reads the schedule from the environment (``CRONWELL_BENCH_BEAT``, JSON: broker, queue, n,
task, args, due epoch, and two files). Each entry has an :class:`At` schedule: due once,
at ``due``. :class:`CountingScheduler` is beat's default ``PersistentScheduler`` that
touches the ``ready`` file once its schedule is loaded, and writes the time to the ``sent``
file once it has sent all N messages.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler, ScheduleEntry
from celery.schedules import BaseSchedule, schedstate

from cronwell.dispatch.celery import configure

BEAT_ENV = "CRONWELL_BENCH_BEAT"
# seconds until an entry that fired would be looked at again (never, within a round)
_LATER = 3600.0


class At(BaseSchedule):  # type: ignore[misc]
    """Due once, at the epoch ``due``."""

    def __init__(self, due: float) -> None:
        super().__init__()
        self.due = due

    def remaining_estimate(self, last_run_at: datetime) -> float:
        return max(0.0, self.due - time.time())

    def is_due(self, last_run_at: datetime) -> schedstate:
        if last_run_at.timestamp() >= self.due:
            return schedstate(False, _LATER)
        remaining = self.due - time.time()
        if remaining <= 0:
            return schedstate(True, _LATER)
        return schedstate(False, remaining)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, At) and other.due == self.due

    def __hash__(self) -> int:
        return hash(self.due)

    def __reduce__(self) -> tuple[Any, ...]:
        return (At, (self.due,))


def _config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(os.environ[BEAT_ENV])
    return config


class CountingScheduler(PersistentScheduler):  # type: ignore[misc]
    """Beat's default scheduler, telling the benchmark when it is loaded and when it has
    sent every message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._config = _config()
        self._sent = 0
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        with open(self._config["ready"], "w", encoding="ascii") as file:
            file.write(str(time.time()))

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        super().apply_entry(entry, producer=producer)
        self._sent += 1
        if self._sent == self._config["n"]:
            with open(self._config["sent"], "w", encoding="ascii") as file:
                file.write(str(time.time()))


def _app() -> Celery:
    config = _config()
    beat = Celery("cronwell-bench-beat", broker=config["broker"], set_as_current=False)
    configure(beat, default_queue=config["queue"])
    due = At(config["due"])
    beat.conf.beat_schedule = {
        f"entry-{i:07d}": {
            "task": config["task"],
            "schedule": due,
            "args": config["args"],
            "options": {"queue": config["queue"]},
        }
        for i in range(config["n"])
    }
    return beat


app = _app() if BEAT_ENV in os.environ else None
