"""The Django integration's pure parts: ``CRONWELL`` and ``DATABASES`` read into cronwell's
settings, and which processes start the embedded scheduler."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronwell.contrib.django.conf import build_settings, database_url, read_config
from cronwell.contrib.django.guard import embedded_decision
from cronwell.errors import ConfigError
from cronwell.store.database import display_url, normalize_url


def pg(**fields: object) -> dict[str, dict[str, object]]:
    return {"default": {"ENGINE": "django.db.backends.postgresql", **fields}}


def test_a_sqlite_file_becomes_an_absolute_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": path}}
    assert database_url(databases, "default") == f"sqlite:///{path}"


@pytest.mark.parametrize("name", [":memory:", "file:memorydb_default?mode=memory&cache=shared"])
def test_an_in_memory_sqlite_database_cannot_be_shared(name: str) -> None:
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": name}}
    with pytest.raises(ConfigError, match=r"in-memory SQLite.*CRONWELL\['database_url'\]"):
        database_url(databases, "default")


def test_a_sqlite_connection_without_a_name_says_so() -> None:
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ""}}
    with pytest.raises(ConfigError, match=r"DATABASES\['default'\] has no NAME"):
        database_url(databases, "default")


def test_a_postgresql_connection_becomes_a_url_psycopg_reads_back() -> None:
    url = database_url(
        pg(
            NAME="shop",
            USER="app",
            PASSWORD="p@ss:w/rd",
            HOST="db.internal",
            PORT=6432,
            OPTIONS={"sslmode": "require", "isolation_level": 2, "pool": True},
        ),
        "default",
    )
    parsed = normalize_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.username, parsed.password) == ("app", "p@ss:w/rd")
    assert (parsed.host, parsed.port, parsed.database) == ("db.internal", 6432, "shop")
    # libpq's own options pass, Django's own (isolation_level, pool) do not
    assert dict(parsed.query) == {"sslmode": "require"}
    assert "p@ss" not in display_url(url)


def test_a_unix_socket_and_an_ipv6_host() -> None:
    socket_url = normalize_url(database_url(pg(NAME="app", HOST="/var/run/postgresql"), "default"))
    assert socket_url.host is None
    assert dict(socket_url.query) == {"host": "/var/run/postgresql"}
    ipv6 = normalize_url(database_url(pg(NAME="app", HOST="::1", PORT="5432"), "default"))
    assert (ipv6.host, ipv6.port) == ("::1", 5432)


def test_other_engines_and_aliases_say_what_to_set() -> None:
    mysql = {"default": {"ENGINE": "django.db.backends.mysql", "NAME": "app"}}
    with pytest.raises(
        ConfigError, match=r"'django.db.backends.mysql'.*CRONWELL\['database_url'\]"
    ):
        database_url(mysql, "default")
    with pytest.raises(ConfigError, match=r"DATABASES\['jobs'\] does not exist"):
        database_url(mysql, "jobs")


def test_the_database_and_zone_default_to_djangos(tmp_path: Path) -> None:
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": tmp_path / "a.db"}}
    settings = build_settings(read_config({"max_workers": 3}), databases, "Australia/Sydney")
    assert settings.database_url == f"sqlite:///{tmp_path / 'a.db'}"
    assert settings.timezone == "Australia/Sydney"
    assert settings.max_workers == 3
    given = read_config({"database_url": "sqlite:///other.db", "timezone": "UTC"})
    # a database CRONWELL names needs no usable Django connection
    settings = build_settings(given, {"default": {"ENGINE": "django.db.backends.mysql"}}, "X")
    assert (settings.database_url, settings.timezone) == ("sqlite:///other.db", "UTC")


def test_the_integrations_keys_and_their_defaults() -> None:
    config = read_config(None)
    assert (config.mode, config.source, config.tasks_module, config.alias) == (
        "embedded",
        "django",
        "tasks",
        "default",
    )
    config = read_config({"mode": "worker", "source": "shop", "tasks_module": "jobs"})
    assert (config.mode, config.source, config.tasks_module, config.fields) == (
        "worker",
        "shop",
        "jobs",
        {},
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("embedded", r"CRONWELL is a dict"),
        ({"mode": "web"}, r"CRONWELL\['mode'\] is 'embedded' .* or 'worker'"),
        ({"max_worker": 2}, r"no key 'max_worker'. Did you mean 'max_workers'"),
        ({"source": ""}, r"CRONWELL\['source'\] is a name"),
    ],
)
def test_a_bad_cronwell_dict_is_a_sentence(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_config(raw)


def test_a_bad_value_names_its_key_in_the_dict(tmp_path: Path) -> None:
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": tmp_path / "a.db"}}
    with pytest.raises(ConfigError, match=r"settings.CRONWELL\['max_workers'\]"):
        build_settings(read_config({"max_workers": 0}), databases, "UTC")


@pytest.mark.parametrize(
    ("argv", "environ", "modules", "start"),
    [
        # runserver: the autoreloader's parent never, its child and --noreload do
        (["manage.py", "runserver"], {}, (), False),
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, (), True),
        (["./manage.py", "runserver", "0:8000", "--noreload"], {}, (), True),
        (["/venv/bin/django-admin", "runserver"], {"RUN_MAIN": "true"}, (), True),
        # every other management command never
        (["manage.py", "migrate"], {"RUN_MAIN": "true"}, (), False),
        (["manage.py", "test"], {}, (), False),
        (["manage.py", "shell"], {}, (), False),
        (["manage.py", "collectstatic", "--noinput"], {}, (), False),
        (["manage.py", "cronwell", "serve"], {}, (), False),
        (["manage.py"], {}, (), False),
        (["/usr/lib/python3/site-packages/django/__main__.py", "migrate"], {}, (), False),
        # web servers, by program or by module run with -m
        (["/venv/bin/gunicorn", "project.wsgi"], {}, (), True),
        (["/venv/bin/uvicorn", "project.asgi:application"], {}, (), True),
        (["/venv/lib/site-packages/uvicorn/__main__.py", "project.asgi:app"], {}, (), True),
        (["daphne", "project.asgi:application"], {}, (), True),
        (["uwsgi"], {}, ("uwsgi",), True),
        (["mod_wsgi"], {}, ("mod_wsgi",), True),
        # the rest: test runners, task queues, scripts
        (["/venv/bin/pytest"], {}, (), False),
        (["/venv/bin/celery", "-A", "project", "worker"], {}, (), False),
        (["script.py"], {}, (), False),
        ([], {}, (), False),
    ],
)
def test_which_processes_start_the_embedded_scheduler(
    argv: list[str], environ: dict[str, str], modules: tuple[str, ...], start: bool
) -> None:
    decision = embedded_decision(argv, environ, modules)
    assert decision.start is start, decision.reason
    assert decision.reason


def test_a_process_that_does_not_start_says_how_to() -> None:
    reason = embedded_decision(["/venv/bin/celery", "worker"], {}, ()).reason
    assert "cronwell.contrib.django.start()" in reason
    assert "manage.py cronwell serve" in reason
