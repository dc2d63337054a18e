"""Database URLs and engines: which driver, which connection settings, and how a failure to
reach the database is told to a person (one line, password hidden)."""

from __future__ import annotations

import functools
import os
import sqlite3
import urllib.parse
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool, StaticPool

from cronwell.errors import ConfigError, DatabaseUnavailableError
from cronwell.extras import require

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
