"""The project's :class:`~cronwell.Cronwell`: one per process, built from Django's settings.

Tasks are declared with :func:`task` in the apps' ``tasks.py`` (imported by the app's
``ready()``, as the admin imports ``admin.py``). The Cronwell gathers them
(``declared=True``) and its :meth:`~cronwell.Cronwell.start` makes the database hold
exactly them for the project's source: a task whose decorator is gone is deleted, its run
history kept.

The instance is rebuilt, with every declaration made so far, when the database it was
built for is no longer the one Django's settings name and it has not started: Django's
test runner switches ``DATABASES`` to the test database after the apps are ready, and the
tasks must then live there. A forked child (gunicorn ``--preload``) builds its own instead
of sharing its parent's connections. The process closes its instance when it exits, which
gives up the scheduler lease and records what still runs as interrupted.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings

from cronwell.contrib.django.conf import DjangoConfig, build_settings, database_url, read_config
from cronwell.contrib.django.hygiene import CloseOldConnections
from cronwell.domain.schedule import AnySchedule
from cronwell.runtime import Cronwell

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(slots=True)
class _Declaration:
    func: Callable[..., Any]
    schedule: AnySchedule | str | None
    options: dict[str, Any]

    def apply(self, cw: Cronwell) -> None:
        cw.task(self.schedule, **self.options)(self.func)


@dataclass(slots=True)
class _State:
    instance: Cronwell | None = None
    url: str | None = None  # the database URL the instance was built for
    declarations: list[_Declaration] = field(default_factory=list)


_lock = threading.RLock()
_state = _State()


def config() -> DjangoConfig:
    """``settings.CRONWELL``, checked."""
    return read_config(getattr(settings, "CRONWELL", None))


def current_database_url(cfg: DjangoConfig | None = None) -> str:
    """The database URL Django's settings give cronwell now."""
    cfg = cfg or config()
    given = cfg.fields.get("database_url")
    if isinstance(given, str) and given:
        return given
    return database_url(settings.DATABASES, cfg.alias)


def task(
    schedule: AnySchedule | str | None = None,
    *,
    cron: str | None = None,
    every: float | str | timedelta | None = None,
    at: datetime | None = None,
    id: str | None = None,
    replace_existing: bool = True,
    **options: Any,
) -> Callable[[F], F]:
    """Decorator: declare the function it wraps as a task of the project, as
    :meth:`Cronwell.task <cronwell.Cronwell.task>` does (one of ``schedule``, ``cron``,
    ``every`` or ``at``; other keywords are :class:`~cronwell.Task` fields). A bad
    declaration raises here, at the decorator's line."""
    named = {"cron": cron, "every": every, "at": at, "id": id}
    given = {key: value for key, value in named.items() if value is not None}
    given["replace_existing"] = replace_existing

    def register(func: F) -> F:
        declaration = _Declaration(func, schedule, {**given, **options})
        with _lock:
            declaration.apply(_instance())  # raises for a bad one, which is not kept
            _state.declarations.append(declaration)
        return func

    return register


def get_cronwell() -> Cronwell:
    """The project's Cronwell (built on first use; nothing connects until needed)."""
    with _lock:
        return _instance()


def _instance() -> Cronwell:
    """The current instance; a new one replays the declarations made so far."""
    cfg = config()
    url = current_database_url(cfg)
    cw = _state.instance
    if cw is not None and (url == _state.url or cw.running):
        return cw
    cw = Cronwell(
        settings=build_settings(cfg, settings.DATABASES, getattr(settings, "TIME_ZONE", None)),
        declared=True,
        source=cfg.source,
    )
    cw.wrap_runner("python", CloseOldConnections)
    for declaration in _state.declarations:
        declaration.apply(cw)
    previous, _state.instance, _state.url = _state.instance, cw, url
    if previous is not None:  # built for the database used before Django's settings changed
        previous.close()
    return cw


def start(reason: str = "started by the application") -> Cronwell:
    """Start the project's scheduler in this process, if it has not started: it syncs the
    declared tasks, then schedules or stands by for the lease. For a web server the
    integration does not recognise: call it from ``wsgi.py``/``asgi.py``."""
    with _lock:
        cw = get_cronwell()
        if cw.running:
            return cw
        cw.start()
    role = "scheduling" if cw.engine.is_leader else f"standing by while {cw.engine.leader} leads"
    log.info(
        "cronwell scheduler started in process %d (%s): %s",
        os.getpid(),
        reason,
        role,
        extra={
            "action": "django_scheduler_started",
            "pid": os.getpid(),
            "instance_id": cw.settings.instance_id,
            "leader": cw.engine.is_leader,
        },
    )
    return cw


def close() -> None:
    """Stop this process's scheduler, if started, and close its database connections; the
    next use builds a new instance. Tests call it before Django drops a test database."""
    with _lock:
        cw, _state.instance, _state.url = _state.instance, None, None
    if cw is not None:
        cw.close()


def forget() -> None:
    """Drop this process's instance without closing it: one closed elsewhere (the command
    line closes its own), or a parent's copy after a fork."""
    with _lock:
        _state.instance, _state.url = None, None


def _forget_in_child() -> None:
    # A fresh lock too: another thread of the parent may have held this one at the fork.
    global _lock
    _lock = threading.RLock()
    _state.instance, _state.url = None, None


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(close)
