"""Shared fixtures.

``database_url`` runs a test once on SQLite (a file in ``tmp_path``) and once on
PostgreSQL (a fresh database per test, dropped afterwards). PostgreSQL comes from
``CRONWELL_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``); when
it is unreachable the PostgreSQL tests skip, or fail if ``CRONWELL_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

from cronwell.store import Store

POSTGRES_URL = os.environ.get(
    "CRONWELL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    """True when tests must not skip for lack of a server (CI)."""
    return os.environ.get("CRONWELL_REQUIRE_SERVICES") == "1"


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when services are required."""
    if services_required():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _libpq_url(url: str, database: str | None = None) -> str:
    """``url`` as psycopg wants it (no ``+driver``), optionally naming another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test PostgreSQL server, after checking it answers."""
    try:
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        service_unavailable(f"PostgreSQL unreachable at {shown}: {reason}")
    return POSTGRES_URL


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; its URL (``postgresql://``)."""
    name = f"cw_test_{uuid.uuid4().hex[:16]}"
    admin = _libpq_url(postgres_server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cronwell.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated :class:`Store` on ``database_url``, closed after the test."""
    store = Store(database_url)
    store.upgrade()
    try:
        yield store
    finally:
        store.close()
