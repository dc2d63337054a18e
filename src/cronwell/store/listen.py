"""Change notifications on PostgreSQL: ``LISTEN/NOTIFY`` on the channel ``cronwell_changes``.

Every task change (:func:`notify_change` in the transaction that appends to the change
log) sends the new revision on the channel when it commits. A :class:`ChangeListener`
keeps one connection of its own in ``LISTEN`` and calls back at once, so an edit made by
another process reaches the engine without waiting for its next poll. Polling stays the
fallback: while the connection is lost the listener reconnects with a growing delay,
and it calls back once listening again (changes committed meanwhile went unheard).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, func
from sqlalchemy.engine import URL
from sqlalchemy.sql.elements import ColumnElement

from cronwell.store.database import POSTGRES_CONNECT_TIMEOUT_S, display_url, reason_of

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

CHANNEL = "cronwell_changes"
# seconds a listener waits for notifications before it looks whether it should stop
_STOP_CHECK = 0.2


def notify_change(revision: Any) -> ColumnElement[Any]:
    """``pg_notify`` of ``revision`` on :data:`CHANNEL`, to select in the transaction
    that records the change: PostgreSQL delivers it at commit, and never on rollback."""
    return func.pg_notify(CHANNEL, cast(revision, Text))


@dataclass(frozen=True)
class ListenRetry:
    """Seconds a lost :class:`ChangeListener` waits between attempts to reconnect:
    ``first`` after the first failed attempt, doubling with each failure in a row up to
    ``last``. The first retry is quick, as a connection dropped by a server restart or
    a network blip usually comes back at once; the delay is bounded so that a listener
    is back within seconds of the server, while polling covers the gap meanwhile."""

    first: float = 0.1
    last: float = 5.0

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failed attempts in a row before this one:
        ``min(last, first * 2**failures)``."""
        return min(self.last, self.first * 2.0**failures)


class ChangeListener:
    """A thread with one connection in ``LISTEN`` on :data:`CHANNEL` that calls
    ``on_change`` for every notification, until :meth:`close`; it reconnects after
    ``retry`` delays (the defaults of :class:`ListenRetry` unless given)."""

    def __init__(
        self, url: URL, on_change: Callable[[], None], retry: ListenRetry | None = None
    ) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._display_url = display_url(url)
        self._password = url.password
        self._on_change = on_change
        self._retry = retry or ListenRetry()
        self._stop = threading.Event()
        self.listening = threading.Event()
        """Set while the connection is in ``LISTEN``."""
        self.connections = 0
        """Connections opened so far: more than one means it reconnected."""
        self.backend_pid: int | None = None
        """The server process of the current connection."""
        self._thread = threading.Thread(target=self._run, name="cronwell-listen", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop listening and wait up to ``timeout`` seconds for the connection to close."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg  # only PostgreSQL listens, and its engine has required psycopg

        failures = 0  # attempts in a row that failed
        lost_since_logged = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
                    application_name="cronwell-listen",
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connections += 1
                    self.backend_pid = conn.info.backend_pid
                    self.listening.set()
                    failures = 0
                    if lost_since_logged:
                        lost_since_logged = False
                        log.info(
                            "listening for task changes again",
                            extra={"action": "change_listener_restored"},
                        )
                    if self.connections > 1:
                        self._call_back()  # what was committed while nobody listened
                    self._listen(conn)
            except psycopg.Error as exc:
                self.listening.clear()
                if self._stop.is_set():
                    return
                if not lost_since_logged:  # once per outage, not once per attempt
                    lost_since_logged = True
                    log.warning(
                        "cannot listen for task changes on %s: %s; polling meanwhile",
                        self._display_url,
                        reason_of(exc, self._password),
                        extra={"action": "change_listener_lost"},
                    )
                self._stop.wait(self._retry.delay(failures))
                failures = min(failures + 1, 16)  # the delay stays a float however long
        self.listening.clear()

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            heard = False
            for _notification in conn.notifies(timeout=_STOP_CHECK, stop_after=1):
                heard = True
            if heard:
                self._call_back()

    def _call_back(self) -> None:
        try:
            self._on_change()
        except Exception:  # the listener outlives a failing callback
            log.exception(
                "a change notification could not be handled",
                extra={"action": "change_notification_failed"},
            )
