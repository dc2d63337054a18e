"""The process group and host of a run's child process (DESIGN rule 7), kept in
``cronwell_runs.pgid`` and ``cronwell_runs.host``: written once when a shell command or a
process-isolated Python action starts, read by recovery, which kills a group still alive
on its host before it abandons the run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from cronwell.domain.run import RunStatus
from cronwell.store.database import Database
from cronwell.store.tables import runs

_ID_CHUNK = 500  # instance ids per IN (...) list
_HOST = 255  # length of cronwell_runs.host


@dataclass(frozen=True, slots=True)
class RunProcess:
    """The child process group of a running run, as recorded when it started."""

    run_id: int
    task_id: str
    pgid: int
    host: str | None


class RunProcesses:
    """Runs' process groups: recorded when a child starts, read by recovery."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_process(self, run_id: int, pgid: int, host: str) -> bool:
        """Record the process group and host of a running run's child process. False when
        the run is no longer running (it finished first): nothing is written then."""
        with self._db.begin(write=True) as conn:
            result = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
                .values(pgid=pgid, host=host[:_HOST])
            )
        return bool(result.rowcount)

    def running_processes(self, instance_ids: Sequence[str]) -> list[RunProcess]:
        """The recorded process groups of the running runs of ``instance_ids``, by run id."""
        ids = sorted(set(instance_ids))
        found: list[RunProcess] = []
        with self._db.begin() as conn:
            for start in range(0, len(ids), _ID_CHUNK):
                rows = conn.execute(
                    select(runs.c.id, runs.c.task_id, runs.c.pgid, runs.c.host).where(
                        runs.c.status == RunStatus.RUNNING.value,
                        runs.c.instance_id.in_(ids[start : start + _ID_CHUNK]),
                        runs.c.pgid.is_not(None),
                    )
                )
                found += [RunProcess(row.id, row.task_id, row.pgid, row.host) for row in rows]
        return sorted(found, key=lambda process: process.run_id)
