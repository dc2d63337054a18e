"""The database's clock, and the scheduler lease as read without writing.

Leases and heartbeats are compared in database time (DESIGN rule 9): every instance reads
the same clock, so a host whose own clock is skewed neither takes a lease early nor has
its runs judged abandoned while it is alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cronwell.store.tables import leases


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


def database_now(conn: Connection, is_sqlite: bool) -> datetime:
    """The database's clock, as an aware UTC datetime."""
    if is_sqlite:
        text_now = conn.exec_driver_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").scalar()
        return datetime.fromisoformat(str(text_now)).replace(tzinfo=UTC)
    value = conn.exec_driver_sql("SELECT now()").scalar()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def read_lease(conn: Connection, name: str, is_sqlite: bool) -> LeaseState:
    """Lease ``name`` and the database's time, read in the caller's transaction: two
    plain SELECTs, no lock taken and nothing written."""
    now = database_now(conn, is_sqlite)
    row = conn.execute(
        select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)
    ).first()
    if row is None:
        return LeaseState(name, None, None, now)
    return LeaseState(name, str(row.holder), row.expires_at, now)
