"""cronwell's settings in a Django project: the ``CRONWELL = {...}`` dict, and the database
URL derived from Django's ``DATABASES``.

Plain functions over plain values (Django's settings are handed in), so that they read
without a configured Django project.

``CRONWELL`` takes every field of :class:`~cronwell.settings.Settings` (``max_workers``,
``channels``, ``alert_channels``, ``lease_ttl``…) and four keys of the integration:

* ``mode``: ``"embedded"`` (default; the web server's processes schedule, see
  :mod:`cronwell.contrib.django.guard`) or ``"worker"`` (only ``manage.py cronwell serve``
  schedules).
* ``source``: the label of the tasks declared in the apps' ``tasks.py`` (default
  ``"django"``); the sync at start deletes only tasks of this source that are no longer
  declared.
* ``tasks_module``: the module looked for in every installed app (default ``"tasks"``).
* ``database``: the alias in ``DATABASES`` whose database holds cronwell's tables (default
  ``"default"``), when ``database_url`` is not given.

``database_url`` and ``timezone`` default to the Django connection and ``TIME_ZONE``; the
other fields not in the dict come from ``CRONWELL_*`` environment variables as usual.
"""

from __future__ import annotations

import difflib
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cronwell.errors import ConfigError
from cronwell.settings import Settings

MODES = ("embedded", "worker")
DEFAULT_SOURCE = "django"
_INTEGRATION_KEYS = ("mode", "source", "tasks_module", "database")

_SQLITE_ENGINES = ("django.db.backends.sqlite3", "django.contrib.gis.db.backends.spatialite")
_POSTGRES_ENGINES = (
    "django.db.backends.postgresql",
    "django.db.backends.postgresql_psycopg2",
    "django.contrib.gis.db.backends.postgis",
)
# Django's OPTIONS for PostgreSQL that are libpq connection parameters; the others
# (isolation_level, pool, server_side_binding, assume_role…) are Django's own.
_LIBPQ_OPTIONS = frozenset(
    {
        "application_name",
        "channel_binding",
        "connect_timeout",
        "gssencmode",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "options",
        "passfile",
        "service",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslpassword",
        "sslrootcert",
        "target_session_attrs",
    }
)


@dataclass(frozen=True, slots=True)
class DjangoConfig:
    """The integration's keys of ``CRONWELL``, and the Settings fields it gives."""

    mode: str = "embedded"
    source: str = DEFAULT_SOURCE
    tasks_module: str = "tasks"
    alias: str = "default"
    fields: dict[str, Any] = field(default_factory=dict)


def read_config(raw: Any) -> DjangoConfig:
    """``settings.CRONWELL`` checked: a dict of known keys, with a valid mode."""
    if raw is None:
        return DjangoConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"settings.CRONWELL is a dict such as {{'mode': 'embedded'}}, not a "
            f"{type(raw).__name__}."
        )
    known = (*_INTEGRATION_KEYS, *Settings.model_fields)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3)
            hint = f" Did you mean {', '.join(repr(k) for k in close)}?" if close else ""
            raise ConfigError(f"settings.CRONWELL has no key {key!r}.{hint}")
    mode = raw.get("mode", "embedded")
    if mode not in MODES:
        raise ConfigError(
            f"settings.CRONWELL['mode'] is 'embedded' (the web server's processes schedule) "
            f"or 'worker' (only `manage.py cronwell serve` schedules), not {mode!r}."
        )
    texts = {key: raw.get(key, default) for key, default in _text_defaults().items()}
    for key, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"settings.CRONWELL[{key!r}] is a name, not {value!r}.")
    return DjangoConfig(
        mode=mode,
        source=texts["source"],
        tasks_module=texts["tasks_module"],
        alias=texts["database"],
        fields={key: value for key, value in raw.items() if key not in _INTEGRATION_KEYS},
    )


def _text_defaults() -> dict[str, str]:
    return {"source": DEFAULT_SOURCE, "tasks_module": "tasks", "database": "default"}


def build_settings(
    config: DjangoConfig, databases: Mapping[str, Any], time_zone: str | None
) -> Settings:
    """cronwell's settings: ``CRONWELL``'s fields, with the database URL of Django's
    connection (``config.alias``) and Django's ``TIME_ZONE`` unless given. A bad value is a
    :class:`ConfigError` naming its key in ``CRONWELL``."""
    given = dict(config.fields)
    if given.get("database_url") is None:
        given["database_url"] = database_url(databases, config.alias)
    if given.get("timezone") is None and time_zone:
        given["timezone"] = time_zone
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"settings.CRONWELL[{err['loc'][0]!r}]: {err['msg']}"
            if err["loc"] and err["loc"][0] in given
            else f"CRONWELL_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid cronwell settings: {problems}") from None


def database_url(databases: Mapping[str, Any], alias: str) -> str:
    """The URL of Django's connection ``alias`` as cronwell reads URLs: a SQLite file or a
    PostgreSQL database. Any other engine, or an in-memory SQLite database (each connection
    to it is another, empty database), is a :class:`ConfigError` saying what to set."""
    where = f"DATABASES[{alias!r}]"
    if alias not in databases:
        raise ConfigError(
            f"settings.{where} does not exist (settings.CRONWELL['database'] names it); name "
            "an existing connection, or set settings.CRONWELL['database_url']."
        )
    db: Mapping[str, Any] = databases[alias]
    engine = str(db.get("ENGINE") or "")
    if engine in _SQLITE_ENGINES:
        return _sqlite_url(db, where)
    if engine in _POSTGRES_ENGINES:
        return _postgres_url(db)
    raise ConfigError(
        f"cronwell keeps its tables in SQLite or PostgreSQL; settings.{where} uses "
        f"{engine or 'no ENGINE'!r}. Set settings.CRONWELL['database_url'] to "
        "'postgresql://user:password@host:5432/dbname' or 'sqlite:////path/to/cronwell.db'."
    )


def _sqlite_url(db: Mapping[str, Any], where: str) -> str:
    name = os.fspath(db.get("NAME") or "")
    if not name:
        raise ConfigError(
            f"settings.{where} has no NAME: give it the path of its SQLite file, or set "
            "settings.CRONWELL['database_url']."
        )
    if name == ":memory:" or "mode=memory" in name:
        raise ConfigError(
            f"settings.{where} is an in-memory SQLite database, which cronwell cannot share "
            "(each connection to it is another database). Give it a file NAME (and a file "
            "TEST['NAME'] for tests), or set settings.CRONWELL['database_url']."
        )
    if name.startswith("file:"):
        raise ConfigError(
            f"settings.{where} names its SQLite database by URI ({name!r}); set "
            "settings.CRONWELL['database_url'] to 'sqlite:////path/to/the/file.db'."
        )
    return f"sqlite:///{os.path.abspath(os.path.expanduser(name))}"


def _postgres_url(db: Mapping[str, Any]) -> str:
    quote = urllib.parse.quote
    user, password = str(db.get("USER") or ""), str(db.get("PASSWORD") or "")
    auth = ""
    if user or password:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    host, port = str(db.get("HOST") or ""), str(db.get("PORT") or "")
    query: dict[str, str] = {}
    if host.startswith("/"):  # a Unix socket directory
        query["host"], host = host, ""
    elif ":" in host:  # an IPv6 address
        host = f"[{host}]"
    options: Mapping[str, Any] = db.get("OPTIONS") or {}
    query.update({key: str(value) for key, value in options.items() if key in _LIBPQ_OPTIONS})
    location = host + (f":{port}" if port else "")
    name = quote(str(db.get("NAME") or ""), safe="")
    url = f"postgresql://{auth}{location}/{name}"
    return url + ("?" + urllib.parse.urlencode(query) if query else "")
