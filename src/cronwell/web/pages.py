"""The dashboard's pages (GET only): overview, tasks, task, runs, run and alerts. Every
filter is in the query string, so every page has a URL that can be shared."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse

from cronwell.domain.run import RunStatus
from cronwell.domain.timezones import zone
from cronwell.errors import CronwellError, InvalidInputError
from cronwell.notify.redact import redacted_task
from cronwell.service.dashboard import SORTS, TaskQuery, parse_state
from cronwell.store.overview import TASK_STATES
from cronwell.web.context import Dashboard

RUNS_PAGE = 50
Text = Annotated[str | None, Query(max_length=200)]


def install(app: FastAPI, dash: Dashboard) -> None:
    """Add the pages to ``app`` (left out of the OpenAPI document)."""
    cw = dash.cw

    def zone_choice(tz: str | None) -> str:
        return "utc" if tz == "utc" else "task"

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def overview(request: Request, tz: Text = None) -> HTMLResponse:
        data = dash.service.overview()
        return dash.page(request, "overview.html", o=data, tz=zone_choice(tz))

    @app.get("/tasks", include_in_schema=False, response_class=HTMLResponse)
    def tasks(
        request: Request,
        tag: Text = None,
        state: Text = None,
        q: Text = None,
        sort: Text = None,
        page: Annotated[int, Query(ge=1, le=10**9)] = 1,
        tz: Text = None,
    ) -> HTMLResponse:
        query = TaskQuery(
            tag=tag or None,
            state=parse_state(state),
            text=q or None,
            sort=next((s for s in SORTS if s == sort), "next"),
            page=page,
        )
        listing = dash.service.task_list(query)
        return dash.page(
            request,
            "tasks.html",
            listing=listing,
            states=TASK_STATES,
            sorts=SORTS,
            tz=zone_choice(tz),
        )

    @app.get("/tasks/{task_id}", include_in_schema=False, response_class=HTMLResponse)
    def task(request: Request, task_id: str, day: Text = None, tz: Text = None) -> HTMLResponse:
        try:
            detail = dash.service.task_detail(task_id)
            zone_name = "UTC" if tz == "utc" else detail.task.timezone
            chosen = _day(day) if day else cw.clock.now().astimezone(zone(zone_name)).date()
            timeline = dash.service.timeline(task_id, chosen, zone_name)
        except CronwellError as exc:
            return dash.error(request, exc)
        return dash.page(
            request,
            "task.html",
            d=detail,
            t=detail.task,
            timeline=timeline,
            day=chosen,
            previous_day=chosen - timedelta(days=1),
            next_day=chosen + timedelta(days=1),
            tz=zone_choice(tz),
            zone_name=zone_name,
            definition_json=json.dumps(redacted_task(detail.task).definition(), indent=2),
        )

    @app.get("/tasks/{task_id}/runs", include_in_schema=False, response_class=HTMLResponse)
    def task_runs(request: Request, task_id: str) -> HTMLResponse:
        """The recent runs of a task: the fragment the task page polls while a run is
        going."""
        try:
            detail = dash.service.task_detail(task_id)
        except CronwellError as exc:
            return dash.error(request, exc)
        return dash.page(request, "_task_runs.html", d=detail, t=detail.task)

    @app.get("/tasks/{task_id}/delete", include_in_schema=False, response_class=HTMLResponse)
    def confirm_delete(request: Request, task_id: str) -> HTMLResponse:
        try:
            task = cw.service.get(task_id)
        except CronwellError as exc:
            return dash.error(request, exc)
        return dash.page(request, "delete.html", t=task, wrong=False)

    @app.get("/runs", include_in_schema=False, response_class=HTMLResponse)
    def runs(
        request: Request,
        task: Text = None,
        status: Text = None,
        page: Annotated[int, Query(ge=1, le=10**9)] = 1,
    ) -> HTMLResponse:
        chosen = next((s for s in RunStatus if s.value == status), None)
        offset = (page - 1) * RUNS_PAGE
        items = cw.service.list_runs(
            task_id=task or None, status=chosen, limit=RUNS_PAGE, offset=offset
        )
        total = cw.store.count_runs(task_id=task or None, status=chosen)
        return dash.page(
            request,
            "runs.html",
            items=items,
            total=total,
            page=page,
            pages=max(1, -(-total // RUNS_PAGE)),
            task=task or "",
            status=chosen.value if chosen else "",
            statuses=[s.value for s in RunStatus],
            base="/runs?" + urlencode({"task": task or "", "status": status or ""}),
        )

    @app.get("/runs/{run_id}", include_in_schema=False, response_class=HTMLResponse)
    def run(request: Request, run_id: Annotated[int, _RUN_ID]) -> HTMLResponse:
        try:
            found = cw.service.get_run(run_id)
        except CronwellError as exc:
            return dash.error(request, exc)
        attempts = cw.service.list_runs(
            task_id=found.task_id,
            since=found.scheduled_for,
            until=found.scheduled_for + timedelta(microseconds=1),
            limit=100,
        )
        task = cw.service.find(found.task_id)
        return dash.page(
            request,
            "run.html",
            r=found,
            attempts=sorted(attempts, key=lambda a: a.attempt),
            task=task,
        )

    @app.get("/runs/{run_id}/live", include_in_schema=False, response_class=HTMLResponse)
    def run_live(request: Request, run_id: Annotated[int, _RUN_ID]) -> HTMLResponse:
        """The changing part of a run's page, polled while the run goes on."""
        try:
            found = cw.service.get_run(run_id)
        except CronwellError as exc:
            return dash.error(request, exc)
        return dash.page(request, "_run_live.html", r=found)

    @app.get("/alerts", include_in_schema=False, response_class=HTMLResponse)
    def alerts(
        request: Request, status: Text = None, task: Text = None, event: Text = None
    ) -> HTMLResponse:
        records = cw.store.list_notifications(
            task_id=task or None,
            event=event or None,
            status=status if status in ("sent", "failed") else None,
            limit=200,
        )
        return dash.page(
            request,
            "alerts.html",
            records=records,
            channels=sorted(cw.settings.channels),
            status=status or "",
            task=task or "",
            event=event or "",
            sent=None,
        )


_RUN_ID = Path(ge=1, le=2**63 - 1)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"day {text!r} is not a date (YYYY-MM-DD).") from None
