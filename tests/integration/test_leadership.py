"""Leadership and time on real SQLite and PostgreSQL: other hosts' heartbeats are judged by
the database's clock, a standby reads the lease without writing it, a catch-up ends with
its leader's term, and on PostgreSQL changes made elsewhere arrive by notification."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from tests.support.waiting import wait_until

from cronwell import Cronwell, PythonAction, RunStatus, Task, every
from cronwell.engine import recovery
from cronwell.engine.engine import LEASE
from cronwell.engine.recovery import recover_dead_instances
from cronwell.settings import load_settings
from cronwell.store import NewRun, Store


def _cronwell(url: str, instance_id: str, **settings: Any) -> Cronwell:
    values: dict[str, Any] = {"poll_interval": 0.05, "lease_ttl": 1.5, **settings}
    return Cronwell(
        settings=load_settings(database_url=url, timezone="UTC", instance_id=instance_id, **values)
    )


# -- other hosts' heartbeats, in database time ----------------------------------------------


def test_another_hosts_heartbeat_is_judged_by_the_database_clock(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the other host's clock nor this one's takes part: an instance heard of just
    now (by the database) is alive though both clocks are minutes off, and one silent for
    longer than ``INSTANCE_TTL`` (by the database) is dead though the clocks say it
    spoke in the future."""
    real_now = datetime.now(UTC)
    store.insert_task(
        Task(id="t", schedule=every(hours=1), action=PythonAction(func="os:getpid")), real_now
    )
    # the other host's clock is five minutes behind, ours five minutes ahead
    store.heartbeat("far", "another-host.example", 4242, real_now - timedelta(minutes=5))
    [run_id] = store.insert_runs(
        [NewRun("t", real_now, status=RunStatus.RUNNING, started_at=real_now, instance_id="far")]
    )
    ahead = real_now + timedelta(minutes=5)
    assert recover_dead_instances(store, "me", ahead, {}) == []
    assert store.get_run(run_id).status is RunStatus.RUNNING

    # then it falls silent; its clock ran ahead and ours behind this time
    store.heartbeat("far", "another-host.example", 4242, real_now + timedelta(minutes=5))
    monkeypatch.setattr(recovery, "INSTANCE_TTL", timedelta(milliseconds=300))
    behind = real_now - timedelta(minutes=5)
    abandoned = wait_until(
        lambda: recover_dead_instances(store, "me", behind, {}),
        what="the silent instance to be found dead",
    )
    assert [run.id for run in abandoned] == [run_id]
    assert store.get_run(run_id).status is RunStatus.ABANDONED


# -- a standby reads the lease ---------------------------------------------------------------


def _lease_statements(store: Store) -> Counter[str]:
    """Counts of statements on the lease table this store sends from now on: ``write``
    (INSERT, UPDATE, DELETE) and ``read``."""
    counts: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sql = statement.lstrip().upper()
        if "CRONWELL_LEASES" in sql:
            writes = sql.startswith(("INSERT", "UPDATE", "DELETE"))
            counts["write" if writes else "read"] += 1

    event.listen(store._engine, "before_cursor_execute", count)
    return counts


def test_a_standby_reads_the_lease_without_writing_and_takes_over_when_it_lapses(
    database_url: str,
) -> None:
    holder = Store(database_url)
    holder.upgrade()
    assert holder.acquire_lease(LEASE, "ghost", 60) == (True, "ghost")  # a leader that hangs
    standby = _cronwell(database_url, "standby")
    try:
        standby.start()
        assert not standby.engine.is_leader and standby.engine.leader == "ghost"
        counts = _lease_statements(standby.store)
        wait_until(lambda: counts["read"] >= 20, what="ten looks at the lease")
        assert counts["write"] == 0
        assert not standby.engine.is_leader
        # the hung leader's lease now lapses (renewed one last time, for a moment)
        assert holder.acquire_lease(LEASE, "ghost", 0.3) == (True, "ghost")
        wait_until(lambda: standby.engine.is_leader, what="the takeover once the lease lapsed")
        assert counts["write"] >= 1
        assert holder.read_lease(LEASE).current_holder == "standby"
    finally:
        standby.close()
        holder.close()
