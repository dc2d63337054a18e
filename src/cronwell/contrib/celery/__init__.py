"""Run cronwell's actions on Celery workers (DESIGN rule 13).

A task with ``executor = "celery"`` (or every task, with ``CRONWELL_EXECUTOR=celery``) is
fired, decided and recorded by the cronwell leader, which then sends each run to a Celery
queue as ``cronwell.execute(run_id, attempt, task_version)``. A worker is plain Celery::

    CRONWELL_DATABASE_URL=postgresql://... CRONWELL_CELERY_BROKER=amqp://guest@127.0.0.1// \\
        celery -A cronwell.contrib.celery worker -Q cronwell

or an application's own Celery app with cronwell's task registered on it::

    from cronwell.contrib.celery import register
    register(app)

Workers need the database (they take each run with a compare-and-set on its row and
write its end there) and, for Python actions, the functions' modules on their path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cronwell.dispatch.celery import EXECUTE, celery_app
from cronwell.errors import ConfigError
from cronwell.extras import require
from cronwell.settings import Settings
from cronwell.store import Store

if TYPE_CHECKING:
    from celery import Celery

    from cronwell.contrib.celery.worker import WorkerRuntime

__all__ = ["EXECUTE", "app", "register"]

Resolver = Callable[[str, str], Callable[..., Any]]

_runtime: WorkerRuntime | None = None
_main_store: Store | None = None  # the worker's main process's, for hard time limits
_runtime_pid = 0
_runtime_lock = threading.Lock()


def register(
    app: Celery, *, settings: Settings | None = None, resolve: Resolver | None = None
) -> None:
    """Register ``cronwell.execute`` on ``app`` with the options its messages need (JSON,
    late acknowledgement, put back when its worker is lost, no result); the app's own
    settings and its other tasks are left as they are. ``settings`` default to the
    environment's (``CRONWELL_DATABASE_URL``...); ``resolve(task_id, reference)`` finds a
    Python action's function (default: import ``module:function``)."""
    require("celery", "celery", "cronwell.contrib.celery")
    from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
    from celery.signals import worker_process_shutdown

    configured = settings or Settings()

    def on_failure(
        self: Any, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # called in the worker's main process when the hard time limit killed the pool
        # process that ran the action: that process could not record the end itself
        if isinstance(exc, TimeLimitExceeded) and args:
            record_hard_limit(configured, int(args[0]), float(exc.args[0]) if exc.args else None)

    @app.task(  # type: ignore[untyped-decorator]
        name=EXECUTE,
        serializer="json",
        ignore_result=True,
        acks_late=True,
        reject_on_worker_lost=True,
        on_failure=on_failure,
    )
    def execute(run_id: int, attempt: int, task_version: int) -> str:
        runtime = _runtime_here(configured, resolve)
        return runtime.execute(run_id, attempt, task_version, soft_limit=SoftTimeLimitExceeded)

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _closed(**_: Any) -> None:
        _close_runtime()


def _runtime_here(settings: Settings, resolve: Resolver | None) -> WorkerRuntime:
    """This process's runtime, built at its first run (after a prefork worker forked)."""
    from cronwell.contrib.celery.worker import WorkerRuntime

    global _runtime, _runtime_pid
    with _runtime_lock:
        if _runtime is None or _runtime_pid != os.getpid():
            _runtime = WorkerRuntime(settings, resolve=resolve)
            _runtime_pid = os.getpid()
        return _runtime


def record_hard_limit(settings: Settings, run_id: int, limit: float | None) -> None:
    """Record run ``run_id`` ``timed_out``: the worker's hard time limit killed the process
    that ran it (an action that did not stop at the soft limit)."""
    from cronwell.contrib.celery.worker import record_hard_limit as record

    global _main_store
    with _runtime_lock:
        if _main_store is None:
            _main_store = Store(settings.database_url)
    record(_main_store, run_id, limit)


def _close_runtime() -> None:
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None


def _build_app() -> Celery:
    settings = Settings()
    if not settings.celery_broker:
        raise ConfigError(
            "cronwell's Celery app needs a broker: set CRONWELL_CELERY_BROKER, e.g. "
            "amqp://guest:guest@127.0.0.1:5672// or redis://127.0.0.1:6379/0"
        )
    app = celery_app(settings.celery_broker, default_queue=settings.celery_queue)
    register(app, settings=settings)
    return app


_app: Celery | None = None


def __getattr__(name: str) -> Any:
    # `celery -A cronwell.contrib.celery` asks for `app`: built from the environment then,
    # not at import, so that importing `register` needs no broker
    global _app
    if name in ("app", "celery"):
        if _app is None:
            _app = _build_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
