"""The database: its URL and engine (which driver, which connection settings), connections
and transactions, how a driver's failure becomes a cronwell error (one line, password
hidden), the database's clock, and the migrations.

:class:`Database` is what every repository of the store (``tasks``, ``runs``, ``leases``,
...) opens its transactions on.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool, StaticPool

from cronwell.errors import ConfigError, DatabaseUnavailableError, InvalidInputError
from cronwell.extras import require
from cronwell.store.migrations import HEAD
from cronwell.store.tables import VERSION_TABLE, runs

logger = logging.getLogger(__name__)

POSTGRES_DRIVER = "postgresql+psycopg"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")

SQLITE_WRITE = "cronwell_sqlite_write"
"""Execution option marking a connection whose transaction will write. On SQLite such a
transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front (waiting up to
``busy_timeout``) instead of failing with "database is locked" when a read turns into a
write while another connection writes."""

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_CONNECT_TIMEOUT_S = 10

_EXAMPLE = "sqlite:///cronwell.db or postgresql://user:password@host:5432/dbname"

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Key of the PostgreSQL advisory lock held while migrating, so that instances starting
# together apply each migration once (the second waits, then finds nothing to do).
_MIGRATION_LOCK_KEY = 0x63726F6E77656C6C  # "cronwell"

# Statement that serialises task writes on PostgreSQL (SQLite's BEGIN IMMEDIATE already does):
# revisions are then committed in increasing order, so a reader that has seen revision N
# can never later find a committed revision below N, and changes_since misses nothing.
# SHARE ROW EXCLUSIVE conflicts with itself but not with plain SELECTs.
_LOCK_TASK_WRITES = "LOCK TABLE cronwell_task_changes IN SHARE ROW EXCLUSIVE MODE"

# on_step(done, total, revision) of Database.upgrade: migrations applied of those pending
MigrationProgress = Callable[[int, int, str], None]


def normalize_url(url: str | URL) -> URL:
    """The URL cronwell connects with.

    ``postgresql://`` and ``postgres://`` select the psycopg 3 driver
    (``postgresql+psycopg://``). A relative SQLite path (``sqlite:///cronwell.db``) is
    resolved against the current directory once, here, so a later ``chdir`` cannot move the
    database. ``sqlite://`` and ``sqlite:///:memory:`` are in-memory databases.
    """
    try:
        parsed = url if isinstance(url, URL) else make_url(url.strip())
    except (ArgumentError, ValueError, AttributeError):
        # The URL is not echoed: it may carry a password.
        raise ConfigError(f"The database URL is not valid; expected e.g. {_EXAMPLE}.") from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=POSTGRES_DRIVER)
    elif parsed.drivername.startswith("postgres+"):
        parsed = parsed.set(drivername="postgresql+" + parsed.drivername.split("+", 1)[1])
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            parsed = parsed.set(database=os.path.abspath(os.path.expanduser(database)))
    return parsed


def display_url(url: str | URL) -> str:
    """``url`` as text with any password replaced by ``***``; safe to log and print."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError, AttributeError):
        return "<invalid database URL>"
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: URL) -> str | None:
    """The absolute path of an SQLite database file, ``None`` for in-memory databases and
    other backends."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def sqlite_read_only(path: str) -> bool:
    """True for an existing SQLite file this process may read but not write: the file, or
    the folder its journal files go in, is read-only (permissions or a read-only mount)."""
    if not os.path.exists(path):
        return False
    return not (os.access(path, os.W_OK) and os.access(os.path.dirname(path), os.W_OK))


def build_engine(url: URL, *, pool_size: int, read_only: bool = False) -> Engine:
    """An engine for ``url``; nothing connects until the first use.

    SQLite files are used through a pool of connections, an in-memory database through a
    single connection (the store takes turns on it). SQLite connections run in WAL mode
    (readers do not block the writer) with ``synchronous=NORMAL`` (durable across process
    crashes, fast) and wait up to 5 s for a lock instead of failing at once. SQLAlchemy, not
    the ``sqlite3`` module, emits ``BEGIN`` so that transactions really are transactions
    (see :data:`SQLITE_WRITE`). PostgreSQL connections are checked before reuse, give up
    connecting after 10 s and use UTC as their session time zone.
    """
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"cronwell stores its data in SQLite or PostgreSQL; {display_url(url)} uses "
            f"{backend!r}. Use e.g. {_EXAMPLE}."
        )
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        path = sqlite_file(url)
        if read_only and path is not None:
            engine = create_engine(
                "sqlite://",
                poolclass=QueuePool,
                pool_size=pool_size,
                creator=functools.partial(_read_only, path),
            )
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        if path is not None:
            kwargs["pool_size"] = pool_size
        else:
            # One connection for every thread: each new connection to an in-memory
            # database would be another, empty database.
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.get_driver_name() == "psycopg":
        require("psycopg", "postgres", "a PostgreSQL database")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    if "application_name" not in url.query:
        connect_args["application_name"] = "cronwell"
    engine = create_engine(url, pool_size=pool_size, pool_pre_ping=True, connect_args=connect_args)
    event.listen(engine, "connect", _postgres_on_connect)
    return engine


def _postgres_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Timestamps come back in UTC, cronwell's only zone, whatever the server's default:
    # psycopg then gives them datetime.UTC itself, which needs no conversion per value.
    # A SET rather than the "options" startup parameter, which some poolers refuse.
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
    finally:
        dbapi_connection.autocommit = autocommit


def _read_only(path: str) -> sqlite3.Connection:
    """A connection that never writes, for a file this process cannot write. With a
    write-ahead log beside it, ``mode=ro`` reads the log too (SQLite needs its ``-shm``
    file for that); without one, ``immutable=1`` reads the file as it is, which also works
    in a read-only folder where the ``-shm`` file cannot be made."""
    flag = "mode=ro" if os.path.exists(path + "-wal") else "immutable=1"
    uri = f"file:{urllib.parse.quote(path)}?{flag}"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return connection


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it would not BEGIN before
    # SELECT or DDL); _sqlite_on_begin emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            # Switching to WAL does not wait for busy_timeout: when several connections open
            # a new database at once, all but one get "database is locked". The one that
            # wins makes WAL the file's persistent mode, which the others then pick up at
            # their next transaction, so losing the race is harmless.
            if "locked" not in str(exc):
                raise
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(SQLITE_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def reason_of(exc: BaseException, password: str | None = None) -> str:
    """The driver's own explanation of ``exc``: its first non-empty line, short, and never
    containing ``password``."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[0] if lines else type(orig or exc).__name__
    if password:
        reason = reason.replace(password, "***")
    if len(reason) > 300:
        reason = reason[:299] + "…"
    return reason


def database_error(url: URL, exc: BaseException, doing: str = "reach") -> DatabaseUnavailableError:
    """The error for a database that cannot be reached (``doing="reach"``) or used, in one
    line: ``Cannot reach the database postgresql+psycopg://u:***@host/db: <driver reason>``."""
    return DatabaseUnavailableError(
        f"Cannot {doing} the database {display_url(url)}: {reason_of(exc, url.password)}"
    )


class Database:
    """One database: its engine, its transactions and its migrations.

    ``url`` is an SQLAlchemy-style URL (see :func:`normalize_url`). Creating a database
    does not connect; :meth:`check` or :meth:`upgrade` do, and raise
    :class:`~cronwell.errors.DatabaseUnavailableError` with the password hidden.
    """

    def __init__(self, url: str | URL, *, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        self.display_url: str = display_url(self.url)
        self.is_sqlite: bool = self.url.get_backend_name() == "sqlite"
        self.sqlite_path: str | None = sqlite_file(self.url)
        # an SQLite file this process cannot write is opened for reading only
        self.read_only: bool = self.sqlite_path is not None and sqlite_read_only(self.sqlite_path)
        self.engine = build_engine(self.url, pool_size=pool_size, read_only=self.read_only)
        self._memory_lock = (
            threading.RLock() if self.is_sqlite and self.sqlite_path is None else None
        )

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection; a failure to connect becomes ``DatabaseUnavailableError``.

        An in-memory SQLite database lives in one connection shared by every thread, so
        its users take turns (``_memory_lock``).
        """
        with self._memory_lock or nullcontext():
            try:
                conn = self.engine.connect()
            except sa_exc.DBAPIError as exc:
                raise database_error(self.url, exc) from None
            with conn:
                yield conn

    @contextmanager
    def begin(self, *, write: bool = False, lock_tasks: bool = False) -> Iterator[Connection]:
        """A connection inside a transaction that commits when the block ends normally.

        ``write`` starts SQLite transactions with ``BEGIN IMMEDIATE`` (see
        :data:`SQLITE_WRITE`); ``lock_tasks`` serialises task writes on PostgreSQL. Driver
        failures (lost connection, SQLite locked for too long, tables missing because
        :meth:`upgrade` was not run) become ``DatabaseUnavailableError``.
        """
        if write and self.read_only:
            raise DatabaseUnavailableError(
                f"The database {self.display_url} is read-only for this process: it can "
                "be read (tasks list, runs list, status), not changed."
            )
        with self.connection() as conn:
            try:
                if write and self.is_sqlite:
                    conn.execution_options(**{SQLITE_WRITE: True})
                with conn.begin():
                    if lock_tasks and not self.is_sqlite:
                        conn.exec_driver_sql(_LOCK_TASK_WRITES)
                    yield conn
            except sa_exc.IntegrityError:
                raise  # a broken invariant of the store, not the database's fault
            except sa_exc.DataError as exc:
                # a value the database cannot hold (a NUL character in PostgreSQL text)
                raise InvalidInputError(
                    f"The database cannot store a value given: {reason_of(exc)}"
                ) from None
            except sa_exc.DBAPIError as exc:
                raise database_error(self.url, exc, "use") from exc

    def check(self) -> None:
        """Connect and run ``SELECT 1``; raise ``DatabaseUnavailableError`` if that fails."""
        with self.connection() as conn:
            try:
                conn.execute(text("SELECT 1"))
            except sa_exc.DBAPIError as exc:
                raise database_error(self.url, exc) from None

    def close(self) -> None:
        """Close every pooled connection. The database reconnects if used again (an
        in-memory database starts empty then)."""
        self.engine.dispose()

    # -- time and values ---------------------------------------------------------------------

    def now(self, conn: Connection) -> datetime:
        """The database's clock, as an aware UTC datetime, read on ``conn``: the clock
        every instance shares (leases, heartbeats; DESIGN rule 9)."""
        if self.is_sqlite:
            text_now = conn.exec_driver_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").scalar()
            return datetime.fromisoformat(str(text_now)).replace(tzinfo=UTC)
        value = conn.exec_driver_sql("SELECT now()").scalar()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    @cached_property
    def stamp(self) -> Callable[[Any], Any]:
        """The run timestamps' conversion for this driver: the column type's own
        (UTCDateTime, then the dialect's DATETIME), so rows written straight to the driver
        read back as every other row does."""
        dialect = self.engine.dialect
        return runs.c.scheduled_for.type.dialect_impl(dialect).bind_processor(dialect) or _as_is

    # -- migrations --------------------------------------------------------------------------

    def upgrade(self, on_step: MigrationProgress | None = None) -> None:
        """Bring the tables to the latest migration; a no-op when they are current.

        Safe to call on every start, and from instances starting together: on PostgreSQL
        the migrations run in one transaction under an advisory lock, on SQLite under the
        write lock. A current database is only read, so reading commands work on a file
        this process cannot write. ``on_step(done, total, revision)`` hears of the pending
        migrations before the first one and after each (for a progress bar).
        """
        if self.is_current():
            return
        if self.read_only:
            raise DatabaseUnavailableError(
                f"The database {self.display_url} is read-only and needs upgrading to "
                f"revision {HEAD}: make it writable and run `cronwell db upgrade`."
            )
        with self.connection() as conn:
            try:
                if self.is_sqlite:
                    conn.execution_options(**{SQLITE_WRITE: True})
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _MIGRATION_LOCK_KEY},
                        )
                    current = _current_revisions(conn)
                    if current == {HEAD}:
                        return
                    _migrate(conn, current, on_step)
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                raise database_error(self.url, exc) from None
            except sa_exc.DBAPIError as exc:
                raise database_error(self.url, exc, "upgrade") from None
        logger.info(
            "Upgraded the database %s to revision %s",
            self.display_url,
            HEAD,
            extra={
                "action": "database_upgraded",
                "database": self.display_url,
                "from_revision": ", ".join(sorted(current)) or None,
                "to_revision": HEAD,
            },
        )

    def has_schema(self) -> bool:
        """True when the database holds cronwell's tables, at any revision. A missing
        SQLite file is not created to find out: it has none."""
        if self.sqlite_path is not None and not os.path.exists(self.sqlite_path):
            return False
        with self.connection() as conn:
            try:
                return bool(_current_revisions(conn))
            except sa_exc.DBAPIError as exc:
                raise database_error(self.url, exc) from None

    def is_current(self) -> bool:
        """True when every migration has been applied."""
        with self.connection() as conn:
            try:
                return _current_revisions(conn) == {HEAD}
            except sa_exc.DBAPIError as exc:
                raise database_error(self.url, exc) from None


def _as_is(value: Any) -> Any:
    return value


def _current_revisions(conn: Connection) -> set[str]:
    """The revisions recorded in the version table; none when it does not exist yet."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return set()
    return set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _migrate(conn: Connection, current: set[str], on_step: MigrationProgress | None = None) -> None:
    """Apply the pending migrations on ``conn``, inside its transaction (Alembic is
    imported here, when a database needs it, not by every process that opens one)."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    # Config values go through ConfigParser interpolation, where % is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = conn
    if on_step is not None:
        scripts = ScriptDirectory.from_config(config)
        total = len(list(scripts.iterate_revisions("heads", tuple(current) or "base")))
        done = 0
        on_step(0, total, "")

        def applied(revision: str) -> None:
            nonlocal done
            done += 1
            on_step(done, total, revision)

        config.attributes["on_applied"] = applied
    command.upgrade(config, "head")
