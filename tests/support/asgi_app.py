"""A FastAPI application running cronwell with its own lifespan, served by a real uvicorn in
tests (``uvicorn tests.support.asgi_app:app --workers 2``).

Every worker process writes what happens to the ledger file ``ASGI_TEST_LEDGER`` (one line
each, appended): its lifespan's start and stop, and each execution of a task with the
occurrence key, the process and the event loop it ran on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from cronwell import Cronwell, RunContext
from cronwell.contrib.fastapi import cronwell_app, cronwell_lifespan

LEDGER = os.environ["ASGI_TEST_LEDGER"]

cw = Cronwell(os.environ["ASGI_TEST_DATABASE_URL"], "UTC", declared=True)


def note(*words: object) -> None:
    with open(LEDGER, "a", encoding="utf-8") as ledger:  # one short append per line
        ledger.write(" ".join(str(w) for w in words) + "\n")


def loop_id() -> int:
    return id(asyncio.get_running_loop())


@cw.task(every="1s", id="tick")
async def tick(ctx: RunContext) -> None:
    note("tick", ctx.occurrence_key, os.getpid(), loop_id())


@cw.task(every="1s", id="slow")
async def slow(ctx: RunContext) -> None:
    note("slow", ctx.occurrence_key, os.getpid(), loop_id())
    await asyncio.sleep(600)


@asynccontextmanager
async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    note("app-start", os.getpid(), loop_id(), f"scheduler-running={cw.running}")
    yield {"greeting": "hello"}
    note("app-stop", os.getpid(), loop_id(), f"scheduler-running={cw.running}")


app = FastAPI(lifespan=cronwell_lifespan(cw, app_lifespan))
app.mount("/scheduler", cronwell_app(cw))


@app.get("/hello")
async def hello(request: Request) -> dict[str, Any]:
    return {"greeting": request.state.greeting, "pid": os.getpid()}
