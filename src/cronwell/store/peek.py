"""Task ids for shell completion, read with the database driver alone.

Completion runs on every Tab press and must answer at once, so this module imports neither
SQLAlchemy nor the rest of the store: it opens SQLite read-only with :mod:`sqlite3`, or
PostgreSQL with psycopg, with a short timeout, and reads one column. Any failure (no file,
no table, no server) is an empty answer; completion never raises.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

_LIMIT = 200
_TABLE = "cronwell_tasks"  # tables.tasks
_SQLITE = re.compile(r"^sqlite(\+\w+)?://(/(?P<path>[^?]*))?")
_POSTGRES = re.compile(r"^postgres(ql)?(\+\w+)?://")


def task_ids(url: str, prefix: str = "", *, timeout: float = 0.1) -> list[str]:
    """Up to 200 stored task ids starting with ``prefix``, sorted; ``[]`` when the
    database cannot be read within about ``timeout`` seconds."""
    try:
        path = sqlite_path(url)
        if path is not None:
            return _sqlite_ids(path, prefix, timeout)
        if _POSTGRES.match(url.strip()):
            return _postgres_ids(url.strip(), prefix, timeout)
    except Exception:  # completion never fails: no answer is the answer
        return []
    return []


def sqlite_path(url: str) -> str | None:
    """The absolute file of an SQLite URL, as :class:`~cronwell.store.Store` resolves it;
    ``None`` for an in-memory database or another backend."""
    match = _SQLITE.match(url.strip())
    if match is None:
        return None
    database = match.group("path") or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(os.path.expanduser(database))


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _sqlite_ids(path: str, prefix: str, timeout: float) -> list[str]:
    if not os.path.exists(path):
        return []  # mode=ro never creates it; this spares the attempt
    uri = f"file:{quote(Path(path).as_posix())}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        rows = conn.execute(
            f"SELECT id FROM {_TABLE} WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?",
            (_like(prefix), _LIMIT),
        ).fetchall()
    finally:
        conn.close()
    return [str(row[0]) for row in rows]


def _postgres_ids(url: str, prefix: str, timeout: float) -> list[str]:
    import psycopg

    conninfo = _POSTGRES.sub("postgresql://", url, count=1)
    # libpq waits at least 2 s to connect; the statement itself gets ``timeout``
    with psycopg.connect(conninfo, connect_timeout=2, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {max(1, int(timeout * 1000))}")
        rows = conn.execute(
            f"SELECT id FROM {_TABLE} WHERE id LIKE %s ORDER BY id LIMIT %s",
            (_like(prefix), _LIMIT),
        ).fetchall()
    return [str(row[0]) for row in rows]
