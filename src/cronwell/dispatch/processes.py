"""Recording the process group of each run's child process on its row (DESIGN rule 7), so
that recovery can kill a group its dead cronwell process left behind before it abandons
and retries the run.

Shell commands and process-isolated Python actions call :class:`ProcessRecorder` (their
runner's ``on_process``) as soon as their child has started. The row is written on a
thread of the recorder's own, not on the run's thread nor through the dispatcher's
writer: a slow or unreachable database must not hold up a run that has started, and
in-thread Python actions, which have no child, never pay for it. The thread ends after a
second without work and starts again with the next group.

A process that dies between a child's start and this write leaves no group on the row;
the lifeline (:mod:`cronwell.runners.lifeline`) still kills the group with it.
"""

from __future__ import annotations

import logging
import queue
import threading

from cronwell.errors import CronwellError
from cronwell.store import Store

log = logging.getLogger(__name__)

_IDLE = 1.0  # seconds without work after which the thread ends


class ProcessRecorder:
    """``recorder(run_id, pgid)`` records that run ``run_id``'s child leads process group
    ``pgid`` on ``host``; the write happens soon after, on the recorder's thread."""

    def __init__(self, store: Store, host: str) -> None:
        self._store = store
        self.host = host
        self._queue: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._working = False

    def __call__(self, run_id: int, pgid: int) -> None:
        with self._lock:
            self._queue.put((run_id, pgid))
            if not self._working:
                self._working = True
                threading.Thread(
                    target=self._work, name="cronwell-process-recorder", daemon=True
                ).start()

    def _work(self) -> None:
        while True:
            try:
                run_id, pgid = self._queue.get(timeout=_IDLE)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._working = False
                        return
                continue
            self._record(run_id, pgid)

    def _record(self, run_id: int, pgid: int) -> None:
        try:
            self._store.record_process(run_id, pgid, self.host)
        except CronwellError as exc:
            log.warning(
                "cannot record the process group of run %d: %s",
                run_id,
                exc,
                extra={"action": "process_record_failed", "run_id": run_id, "pgid": pgid},
            )
        except Exception:
            log.exception(
                "cannot record the process group of run %d",
                run_id,
                extra={"action": "process_record_failed", "run_id": run_id, "pgid": pgid},
            )
