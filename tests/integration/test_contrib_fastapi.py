"""cronwell.contrib.fastapi in process, through Starlette's test client: the lifespan
composed with the application's own, started again by a second client, async tasks on the
application's loop, and the mounted API behind the host's authentication or the token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.testclient import TestClient
from tests.support.waiting import RunCollector

from cronwell import Cronwell, RunContext, every
from cronwell.contrib.fastapi import cronwell_app, cronwell_lifespan
from cronwell.settings import load_settings

loops: list[int] = []


async def on_the_loop(ctx: RunContext) -> None:
    loops.append(id(asyncio.get_running_loop()))


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    cw = Cronwell(
        settings=load_settings(
            database_url=database_url, timezone="UTC", poll_interval=0.2, shutdown_grace=1
        )
    )
    yield cw
    cw.close()


def test_the_lifespan_wraps_the_apps_own_and_starts_again(cw: Cronwell) -> None:
    cw.add_task("loop", schedule=every(seconds=1), func=on_the_loop)
    runs = RunCollector()
    cw.on_run(runs, statuses=["succeeded"])
    events: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append(f"enter running={cw.running}")
        yield {"pool": "the app's pool"}
        events.append(f"exit running={cw.running}")

    app = FastAPI(lifespan=cronwell_lifespan(cw, own))

    @app.get("/pool")
    async def pool(request: Request) -> dict[str, Any]:
        return {"pool": request.state.pool, "loop": id(asyncio.get_running_loop())}

    for round_ in (1, 2):  # a test client per test enters the app again and again
        with TestClient(app) as client:
            assert cw.running
            answer = client.get("/pool").json()
            assert answer["pool"] == "the app's pool"
            runs.wait_for(round_, "loop", timeout=15)
            assert loops[-1] == answer["loop"]  # the async task ran on the app's loop
        assert not cw.running
    # the app's lifespan is entered before cronwell starts and left after it stops
    assert events == ["enter running=False", "exit running=False"] * 2


def test_the_lifespan_alone_and_inside_the_apps(cw: Cronwell) -> None:
    plain = FastAPI(lifespan=cronwell_lifespan(cw))
    with TestClient(plain):
        assert cw.running
    assert not cw.running

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[None]:
        async with cronwell_lifespan(cw)(app):
            yield

    with TestClient(FastAPI(lifespan=own)):
        assert cw.running
    assert not cw.running


def test_a_lifespan_whose_app_fails_to_start_leaves_cronwell_stopped(cw: Cronwell) -> None:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no database pool")
        yield

    with (
        pytest.raises(RuntimeError, match="no database pool"),
        TestClient(FastAPI(lifespan=cronwell_lifespan(cw, broken))),
    ):
        pass
    assert not cw.running


def check_admin(x_user: Annotated[str | None, Header()] = None) -> str:
    """The host application's own authentication."""
    if x_user != "admin":
        raise HTTPException(status_code=401, detail="Who are you?")
    return x_user


def test_the_mounted_api_answers_behind_the_apps_authentication(cw: Cronwell) -> None:
    cw.add_task("report", schedule=every(hours=1), func=on_the_loop)
    app = FastAPI(lifespan=cronwell_lifespan(cw))
    app.mount("/scheduler", cronwell_app(cw, dependencies=[Depends(check_admin)]))
    with TestClient(app) as client:
        assert client.get("/scheduler/api/v1/tasks").status_code == 401
        assert client.get("/scheduler/readyz").status_code == 401
        admin = {"X-User": "admin"}
        tasks = client.get("/scheduler/api/v1/tasks", headers=admin).json()
        assert [t["id"] for t in tasks["items"] if t["id"] == "report"] == ["report"]
        assert client.post("/scheduler/api/v1/tasks/report/pause", headers=admin).is_success
        assert not cw.get_task("report").enabled
        assert client.get("/scheduler/readyz", headers=admin).json()["ready"] is True
        assert client.get("/scheduler/openapi.json", headers=admin).status_code == 200


def test_the_token_holds_where_the_api_is_mounted(tmp_path: Path) -> None:
    cw = Cronwell(
        settings=load_settings(
            database_url=f"sqlite:///{tmp_path / 'cw.db'}", timezone="UTC", api_token="s3cret"
        )
    )
    try:
        app = FastAPI()
        app.mount("/scheduler", cronwell_app(cw))
        with TestClient(app) as client:
            assert client.get("/scheduler/api/v1/tasks").status_code == 401
            bearer = {"Authorization": "Bearer s3cret"}
            assert client.get("/scheduler/api/v1/tasks", headers=bearer).status_code == 200
            assert client.get("/scheduler/healthz").status_code == 200  # health stays open
    finally:
        cw.close()


def test_mounting_without_any_authentication_is_said(
    cw: Cronwell, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cronwell.contrib.fastapi"):
        cronwell_app(cw)
        warned = [r for r in caplog.records if getattr(r, "action", None) == "api_unprotected"]
        assert len(warned) == 1
        caplog.clear()
        cronwell_app(cw, dependencies=[Depends(check_admin)])
        assert not [r for r in caplog.records if getattr(r, "action", None) == "api_unprotected"]
