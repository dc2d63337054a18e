"""The scheduler's status: who schedules, since when, how many tasks, what fires next.

One model for the API's ``/api/v1/status`` and ``cronwell status``. A running service
answers from its engine; ``cronwell status`` without ``--url`` answers from the database
alone (the lease, the instances' heartbeats and the stored tasks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cronwell.engine.engine import LEASE
from cronwell.store import Store
from cronwell.version import __version__

NEXT_FIRES = 10


class NextFire(BaseModel):
    task_id: str
    at: datetime


class InstanceInfo(BaseModel):
    """A cronwell process registered in the database, with its latest heartbeat."""

    instance_id: str
    hostname: str
    pid: int
    started_at: datetime
    last_seen: datetime


class SchedulerStatus(BaseModel):
    """The scheduler seen from one instance (``source="service"``) or from the database."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "service",
                    "running": True,
                    "instance_id": "web-1",
                    "role": "leader",
                    "leader": "web-1",
                    "version": "0.1.0",
                    "started_at": "2026-11-23T08:00:00Z",
                    "uptime_seconds": 3600.0,
                    "tasks": 12,
                    "paused": 1,
                    "next_fires": [{"task_id": "nightly-report", "at": "2026-11-24T01:00:00Z"}],
                    "instances": [],
                }
            ]
        }
    )

    source: Literal["service", "database"]
    running: bool = Field(
        description="service: this instance's engine runs; database: some instance holds "
        "the scheduler lease."
    )
    instance_id: str | None = Field(description="The answering instance (service only).")
    role: Literal["leader", "standby", "stopped"] | None = Field(
        description="leader fires tasks; a standby waits to take over (service only)."
    )
    leader: str | None = Field(description="The instance holding the scheduler lease.")
    version: str
    started_at: datetime | None
    uptime_seconds: float | None
    tasks: int = Field(description="Stored tasks.")
    paused: int = Field(description="Stored tasks that are paused.")
    next_fires: list[NextFire] = Field(description=f"The soonest fires, up to {NEXT_FIRES}.")
    instances: list[InstanceInfo] = Field(description="Registered instances, oldest first.")


def soonest(next_fires: Mapping[str, datetime | None]) -> list[NextFire]:
    pending = sorted(((at, task_id) for task_id, at in next_fires.items() if at is not None))
    return [NextFire(task_id=task_id, at=at) for at, task_id in pending[:NEXT_FIRES]]


def scheduler_status(
    store: Store,
    now: datetime,
    next_fires: Mapping[str, datetime | None],
    *,
    instance_id: str | None = None,
    running: bool = False,
    is_leader: bool = False,
    started_at: datetime | None = None,
) -> SchedulerStatus:
    """The status as seen by ``instance_id`` (a running service), or, without it, from the
    database alone."""
    leader = store.lease_holder(LEASE)
    instances = [InstanceInfo(**dataclasses.asdict(r)) for r in store.list_instances()]
    role: Literal["leader", "standby", "stopped"] | None = None
    if instance_id is not None:
        role = "leader" if is_leader else "standby" if running else "stopped"
    else:  # from the database: the leader's process start
        started_at = next((i.started_at for i in instances if i.instance_id == leader), None)
    return SchedulerStatus(
        source="service" if instance_id is not None else "database",
        running=running if instance_id is not None else leader is not None,
        instance_id=instance_id,
        role=role,
        leader=leader,
        version=__version__,
        started_at=started_at,
        uptime_seconds=(now - started_at).total_seconds() if started_at else None,
        tasks=store.count_tasks(),
        paused=store.count_tasks(enabled=False),
        next_fires=soonest(next_fires),
        instances=instances,
    )


def database_status(store: Store, now: datetime) -> SchedulerStatus:
    """The status from the database alone: the lease, the instances, and each enabled
    task's next occurrence."""
    fires = {task.id: task.next_fire_after(now) for task in store.list_tasks(enabled=True)}
    return scheduler_status(store, now, fires)
