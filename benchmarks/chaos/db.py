"""What the harness reads from a scenario's database: who holds the scheduler lease, the
run rows, and the tasks (to compute which occurrences were due). Plain SQL through psycopg
for rows and the lease; cronwell's own :class:`~cronwell.store.Store` for the tasks, so
the expected occurrences come from the same schedule code the engine uses."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cronwell.domain.run import occurrence_key
from cronwell.domain.task import Task
from cronwell.store import Store

LEASE = "scheduler"


@dataclass(frozen=True)
class RunRow:
    task_id: str
    scheduled_for: datetime
    attempt: int
    status: str
    reason: str | None
    started_at: datetime | None
    instance_id: str | None

    @property
    def key(self) -> str:
        return occurrence_key(self.task_id, self.scheduled_for)


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def lease_holder(url: str) -> str | None:
    """The instance holding the scheduler lease now (database time), or ``None``; also
    ``None`` while the database does not answer."""
    try:
        with _connect(url) as conn:
            row = conn.execute(
                "SELECT holder FROM cronwell_leases WHERE name = %s AND expires_at > now()",
                (LEASE,),
            ).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else str(row[0])


def run_rows(url: str, prefix: str) -> list[RunRow]:
    """Every run row of the tasks whose id starts with ``prefix``."""
    with _connect(url) as conn:
        rows = conn.execute(
            "SELECT task_id, scheduled_for, attempt, status, reason, started_at, instance_id "
            "FROM cronwell_runs WHERE task_id LIKE %s",
            (prefix + "%",),
        ).fetchall()
    return [RunRow(*row) for row in rows]


def count_running(url: str) -> int:
    """Rows of any task left ``running``."""
    with _connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM cronwell_runs WHERE status = 'running'").fetchone()
    assert row is not None
    return int(row[0])


def tasks(url: str, prefix: str) -> list[Task]:
    store = Store(url)
    try:
        return [t for t in store.list_tasks() if t.id.startswith(prefix)]
    finally:
        store.close()


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """An empty database ``cronwell_chaos_<random>`` on the server of ``admin_url`` (a
    libpq URL naming any database there), dropped with ``FORCE`` afterwards."""
    name = f"cronwell_chaos_{secrets.token_hex(4)}"
    with _connect(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with _connect(admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reachable(admin_url: str) -> str | None:
    """``None`` when the server answers, else why not (one line)."""
    try:
        with _connect(admin_url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None
