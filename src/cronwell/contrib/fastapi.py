"""FastAPI (and any ASGI application with a lifespan): run cronwell inside the app.

::

    from fastapi import Depends, FastAPI
    from cronwell import Cronwell
    from cronwell.contrib.fastapi import cronwell_app, cronwell_lifespan

    cw = Cronwell("postgresql://…/app")

    @cw.task(cron="0 2 * * *")
    async def nightly(ctx): ...            # runs on uvicorn's event loop

    app = FastAPI(lifespan=cronwell_lifespan(cw))             # or (cw, your_lifespan)
    app.mount("/scheduler", cronwell_app(cw, dependencies=[Depends(check_admin)]))

Each worker process (``uvicorn --workers N``, gunicorn) runs its own Cronwell on the shared
database; the scheduler lease lets exactly one of them fire, the others stand by and take
over if it stops. With SQLite the workers must share one machine (one file).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from cronwell.extras import SERVER_MODULES, require_all

# a MissingExtraError naming the extra when FastAPI or the API's other packages are absent
require_all(SERVER_MODULES, "server", "cronwell.contrib.fastapi")

from fastapi import FastAPI  # noqa: E402
from fastapi.params import Depends  # noqa: E402

from cronwell.api.app import create_app  # noqa: E402
from cronwell.contrib.lifecycle import start_on_loop, stop_on_loop  # noqa: E402
from cronwell.runtime import Cronwell  # noqa: E402

log = logging.getLogger(__name__)

#: What ``FastAPI(lifespan=...)`` and Starlette take: a function of the app returning an
#: async context manager, which may yield a state mapping (``request.state``).
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def cronwell_lifespan(cw: Cronwell, app_lifespan: Lifespan | None = None) -> Lifespan:
    """A lifespan that starts ``cw`` when the application starts and shuts it down when it
    stops, for ``FastAPI(lifespan=...)`` or ``Starlette(lifespan=...)``.

    ``cw`` starts inside the server's event loop, so async task functions run on it (on
    uvicorn's loop, next to the requests). Stopping gives running runs the shutdown grace
    (``CRONWELL_SHUTDOWN_GRACE``), records what is still going ``interrupted`` and leaves
    no run ``running``; the same ``cw`` can start again (a test client entering the app
    once per test).

    ``app_lifespan`` is the application's own lifespan, composed around cronwell's: it is
    entered first and left last, so what it sets up (a database pool, a client) exists for
    as long as tasks may run, and tasks it declares are there when cronwell starts. The
    state it yields reaches ``request.state`` unchanged.

    The same composition works the other way round, from inside your own lifespan::

        @asynccontextmanager
        async def lifespan(app):
            async with cronwell_lifespan(cw)(app):
                yield
    """

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        if app_lifespan is None:
            async with _running(cw):
                yield None
            return
        async with app_lifespan(app) as state, _running(cw):
            yield state

    return lifespan


@asynccontextmanager
async def _running(cw: Cronwell) -> AsyncIterator[None]:
    await start_on_loop(cw)
    try:
        yield
    finally:
        await stop_on_loop(cw)


def cronwell_app(cw: Cronwell, *, dependencies: Sequence[Depends] | None = None) -> FastAPI:
    """cronwell's HTTP API (``/api/v1/…``, ``/healthz``, ``/readyz``, ``/metrics``) and its
    dashboard (``/``, with ``CRONWELL_DASHBOARD`` on) as an application to mount in yours:
    ``app.mount("/scheduler", cronwell_app(cw))``; the dashboard's links and redirects keep
    the prefix.

    ``dependencies`` run before every route of it: pass your application's own
    authentication (``[Depends(require_admin)]``), so the people who may manage tasks are
    the ones your application already knows. ``CRONWELL_API_TOKEN``, when set, is required
    as well (``Authorization: Bearer …`` on ``/api/…``). Whoever passes can pause, run and
    delete tasks, but cannot make the application run new code (see the security
    discussion).

    The mounted app has no lifespan of its own: run ``cw`` with :func:`cronwell_lifespan`
    (a standby or a stopped Cronwell still answers, reading the shared database)."""
    if not dependencies and not cw.settings.api_token:
        log.warning(
            "cronwell's API is mounted without authentication: anyone who reaches it can "
            "pause, run and delete tasks; pass dependencies=[Depends(your_auth)] or set "
            "CRONWELL_API_TOKEN",
            extra={"action": "api_unprotected"},
        )
    return create_app(cw, dependencies=list(dependencies or ()))
