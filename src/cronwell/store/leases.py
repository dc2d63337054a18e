"""The instances and the scheduler lease.

Every cronwell process registers as an instance and keeps its ``last_seen`` fresh with a
heartbeat; the one that holds the lease ``scheduler`` fires the schedules. Leases and
heartbeats are compared in database time (DESIGN rule 9): every instance reads the same
clock, so a host whose own clock is skewed neither takes a lease early nor has its runs
judged abandoned while it is alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cronwell.domain.run import RunStatus
from cronwell.store.database import Database
from cronwell.store.records import InstanceRecord, utc
from cronwell.store.tables import instances, leases, runs
from cronwell.store.values import chunks, short, stored_instance_ids

_HOSTNAME = 255  # length of cronwell_instances.hostname


@dataclass(frozen=True, slots=True)
class LeaseState:
    """Lease ``name`` as read at ``now`` (database time): who holds it and until when;
    ``holder`` and ``expires_at`` are ``None`` when no instance ever took it or the last
    holder gave it up."""

    name: str
    holder: str | None
    expires_at: datetime | None
    now: datetime

    @property
    def current_holder(self) -> str | None:
        """The holder while the lease runs, ``None`` once it lapsed."""
        if self.expires_at is None or self.expires_at <= self.now:
            return None
        return self.holder

    @property
    def seconds_left(self) -> float:
        """Seconds of database time until the lease lapses; 0 when free or lapsed."""
        if self.expires_at is None:
            return 0.0
        return max(0.0, (self.expires_at - self.now).total_seconds())


class Leases:
    """Named leases held for a time of database time: one holder at a time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire_lease(
        self, name: str, holder: str, ttl: float, *, take_from: str | None = None
    ) -> tuple[bool, str | None]:
        """Take or renew lease ``name`` for ``holder`` for ``ttl`` seconds of database time.
        It is granted when free, expired, already ``holder``'s, or held by ``take_from``
        (a holder known to be dead). Returns ``(granted, holder now)``. One transaction,
        the lease row locked, so two instances never both hold it."""
        with self._db.begin(write=True) as conn:
            now = self._db.now(conn)
            expires = now + timedelta(seconds=ttl)
            # the first taker creates the row; two at once: one insert wins, the other waits
            # on the row below instead of failing
            dialect_insert = sqlite.insert if self._db.is_sqlite else postgresql.insert
            created = conn.execute(
                dialect_insert(leases)
                .values(name=name, holder=short(holder), acquired_at=now, expires_at=expires)
                .on_conflict_do_nothing(index_elements=[leases.c.name])
            )
            if created.rowcount == 1:
                return True, holder
            query = select(leases).where(leases.c.name == name)
            if not self._db.is_sqlite:
                query = query.with_for_update()
            row = conn.execute(query).one()
            free = row.expires_at <= now or row.holder in (holder, take_from)
            if not free:
                return False, str(row.holder)
            acquired = row.acquired_at if row.holder == holder else now
            conn.execute(
                update(leases)
                .where(leases.c.name == name)
                .values(holder=short(holder), acquired_at=acquired, expires_at=expires)
            )
            return True, holder

    def lease_holder(self, name: str) -> str | None:
        """Who holds lease ``name`` now (by database time), or ``None`` when nobody does."""
        with self._db.begin() as conn:
            now = self._db.now(conn)
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return str(row.holder) if row is not None and row.expires_at > now else None

    def release_lease(self, name: str, holder: str) -> None:
        """Give lease ``name`` up, if ``holder`` has it."""
        with self._db.begin(write=True) as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    def read_lease(self, name: str) -> LeaseState:
        """Lease ``name`` as it stands now in database time, read without writing: what a
        standby looks at before it tries to take the lease."""
        with self._db.begin() as conn:
            # two plain SELECTs: no lock taken and nothing written
            now = self._db.now(conn)
            row = conn.execute(
                select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)
            ).first()
        if row is None:
            return LeaseState(name, None, None, now)
        return LeaseState(name, str(row.holder), row.expires_at, now)


class Instances:
    """The registry of running cronwell processes and their heartbeats."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def register_instance(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        """Record a cronwell process as alive: a new instance starts (``started_at`` =
        ``now``); a known one gets ``hostname`` and ``pid`` updated. ``last_seen`` is the
        database's time, which every instance compares it with, whatever its own clock."""
        self._upsert_instance(instance_id, hostname, pid, now)

    def heartbeat(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        """Record that an instance is still alive (``last_seen`` = the database's time). Takes what
        :meth:`register_instance` takes, so an instance whose row was removed (judged dead
        by another while it was only slow) registers again."""
        self._upsert_instance(instance_id, hostname, pid, now)

    def _upsert_instance(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        now = utc(now, "now")
        with self._db.begin(write=True) as conn:
            values = {
                "instance_id": short(instance_id),
                "hostname": hostname[:_HOSTNAME],
                "pid": pid,
                "started_at": now,
                "last_seen": self._db.now(conn),
            }
            insert_ = (
                sqlite.insert(instances) if self._db.is_sqlite else postgresql.insert(instances)
            )
            statement = insert_.values(**values).on_conflict_do_update(
                index_elements=[instances.c.instance_id],
                set_={
                    "hostname": insert_.excluded.hostname,
                    "pid": insert_.excluded.pid,
                    "last_seen": insert_.excluded.last_seen,
                },
            )
            conn.execute(statement)

    def list_instances(self) -> list[InstanceRecord]:
        """Every registered instance, earliest started first."""
        with self._db.begin() as conn:
            rows = conn.execute(
                select(instances).order_by(instances.c.started_at, instances.c.instance_id)
            ).all()
        return [
            InstanceRecord(
                instance_id=row.instance_id,
                hostname=row.hostname,
                pid=row.pid,
                started_at=row.started_at,
                last_seen=row.last_seen,
            )
            for row in rows
        ]

    def remove_instances(self, instance_ids: Sequence[str]) -> int:
        """Forget instances (stopped, or found dead and recovered); return how many rows
        went. Unknown ids are ignored."""
        ids = stored_instance_ids(instance_ids)
        count = 0
        if not ids:
            return 0
        with self._db.begin(write=True) as conn:
            for chunk in chunks(ids):
                result = conn.execute(delete(instances).where(instances.c.instance_id.in_(chunk)))
                count += int(result.rowcount)
        return count

    def instances_with_work(self) -> set[str]:
        """Ids of instances that hold runs: running ones, or queued ones (pending without
        a ``due_at``). If such an instance is dead, its runs need
        :meth:`abandon_runs` and :meth:`release_queued`."""
        query = (
            select(runs.c.instance_id)
            .where(
                runs.c.instance_id.is_not(None),
                or_(
                    runs.c.status == RunStatus.RUNNING.value,
                    and_(runs.c.status == RunStatus.PENDING.value, runs.c.due_at.is_(None)),
                ),
            )
            .distinct()
        )
        with self._db.begin() as conn:
            return {str(value) for value in conn.execute(query).scalars()}
