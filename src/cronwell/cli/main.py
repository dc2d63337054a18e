"""The ``cronwell`` command: serve, status, tasks, runs, next, alerts, db."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from cronwell import log as cw_log
from cronwell.api.server import ApiServer
from cronwell.cli import declared
from cronwell.cli.errors import EXIT_INTERRUPTED, EXIT_RUN_FAILED, exit_code
from cronwell.cli.output import (
    console,
    err_console,
    notification_table,
    policy_line,
    print_json,
    run_table,
    stats_line,
    status_panel,
    task_table,
    when,
)
from cronwell.cli.remote import fetch_status
from cronwell.domain.action import HttpAction, PythonAction, ShellAction
from cronwell.domain.durations import parse_duration
from cronwell.domain.masking import mask_headers
from cronwell.domain.run import RunStatus
from cronwell.domain.schedule import cron, daily, monthly, once, weekly
from cronwell.domain.schedule import every as every_schedule
from cronwell.domain.timezones import canonical_timezone, system_timezone, zone
from cronwell.errors import (
    CronwellError,
    DatabaseUnavailableError,
    InvalidInputError,
    TaskExistsError,
)
from cronwell.gcpause import freeze_startup_heap
from cronwell.notify.redact import public_task
from cronwell.runtime import Cronwell
from cronwell.service.declared import load_documents
from cronwell.service.status import database_status
from cronwell.settings import load_settings

app = typer.Typer(
    help="cronwell: a job scheduler with crontab-correct schedules and run history.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="Create, inspect and operate tasks.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect run history.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alert deliveries and tests.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
app.add_typer(runs_app, name="runs")
app.add_typer(db_app, name="db")
app.add_typer(alerts_app, name="alerts")

C = TypeVar("C", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class _Options:
    database_url: str | None = None
    timezone: str | None = None


_options = _Options()


@app.callback()
def _main(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            "-d",
            envvar="CRONWELL_DATABASE_URL",
            help="sqlite:///path.db or postgresql://user@host/db.",
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            envvar="CRONWELL_TIMEZONE",
            help="Default IANA zone for tasks that name none.",
        ),
    ] = None,
) -> None:
    _options.database_url = database_url
    _options.timezone = timezone


def handles_errors(command: C) -> C:
    """Print a cronwell error as one line on stderr and exit with its code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CronwellError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; a run in progress is recorded as interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            while _opened:
                _opened.pop().close()

    return wrapper  # type: ignore[return-value]


_opened: list[Cronwell] = []


def _cronwell(**kwargs: Any) -> Cronwell:
    """A Cronwell for one command, closed when the command ends."""
    cw = Cronwell(database_url=_options.database_url, timezone=_options.timezone, **kwargs)
    _opened.append(cw)
    return cw


# -- serve ------------------------------------------------------------------------------


@app.command()
@handles_errors
def serve(
    tasks_files: Annotated[
        list[Path] | None,
        typer.Option("--tasks", "-t", help="TOML or JSON tasks file to load (repeatable)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "INFO",
    host: Annotated[str, typer.Option(help="Address of the HTTP API.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the HTTP API (0: any free one).")] = 8080,
    no_api: Annotated[bool, typer.Option("--no-api", help="Serve no HTTP API.")] = False,
) -> None:
    """Run the scheduler and its HTTP API until SIGINT or SIGTERM."""
    cw_log.configure(log_level)
    cw = _cronwell()
    api = None if no_api else ApiServer(cw, host, port)
    cw.store.check()
    cw.service  # noqa: B018 - opens the database and applies migrations
    if tasks_files:  # all or nothing, each file's tasks labelled with its name
        cw.service.apply(load_documents(tasks_files))
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        err_console.print(f"received {signal.Signals(signum).name}; stopping…")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cw.start()
    where = cw.store.sqlite_path or cw.store.display_url
    console.print(f"cronwell is running: {len(cw.list_tasks())} task(s), history in {where}")
    if not cw.engine.is_leader:
        console.print(
            f"Another instance ({cw.engine.leader}) schedules on this database: this one "
            "stands by and takes over if that one stops.",
            markup=False,
        )
    console.print(cw.summary(), highlight=False, markup=False)
    if api is not None:
        console.print(f"API on {api.start()}/api/v1 (health: /healthz)", markup=False)
    freeze_startup_heap()  # all that is up now lives as long as this process
    console.print("Press Ctrl+C to stop.")
    sys.stdout.flush()
    stop.wait()
    if api is not None:
        api.stop()
    _opened.remove(cw)
    cw.close()
    if cw.dispatcher.writes_given_up:
        raise DatabaseUnavailableError(
            "cronwell stopped without writing all of its run history: the database could "
            "not be reached within CRONWELL_SHUTDOWN_GRACE. The next start records the runs "
            "left running as abandoned and catches up what fell due."
        )
    console.print("cronwell stopped.")
    sys.stdout.flush()
    if any(t.name.startswith("cronwell-run") for t in threading.enumerate()):
        # A Python function still running in a thread cannot be stopped; its run is
        # recorded interrupted. Exit without waiting for it.
        os._exit(0)


# -- tasks ------------------------------------------------------------------------------


@tasks_app.command("list")
@handles_errors
def tasks_list(
    tag: Annotated[str | None, typer.Option(help="Only tasks with this tag.")] = None,
    state: Annotated[str | None, typer.Option(help="'enabled' or 'paused'.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List tasks with their schedule in words and next run."""
    if state not in (None, "enabled", "paused"):
        raise InvalidInputError(f"--state must be 'enabled' or 'paused', not {state!r}.")
    cw = _cronwell()
    enabled = None if state is None else state == "enabled"
    tasks = cw.service.list_tasks(tag=tag, enabled=enabled)
    now = cw.clock.now()
    next_times = {t.id: t.next_fire_after(now) if t.enabled else None for t in tasks}
    if as_json:
        print_json(
            [
                {
                    **public_task(t),
                    "next_run": _iso(next_times[t.id], t),
                    "schedule_description": t.schedule.describe(),
                }
                for t in tasks
            ]
        )
    else:
        console.print(task_table(tasks, next_times))


@tasks_app.command("show")
@handles_errors
def tasks_show(
    task_id: str,
    upcoming: Annotated[int, typer.Option("-n", help="Upcoming fire times to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Show one task, its next fire times and its latest runs."""
    cw = _cronwell()
    task = cw.service.get(task_id)
    preview = task.preview(upcoming, cw.clock.now())
    runs = cw.service.list_runs(task_id=task_id, limit=10)
    stats = cw.service.stats(task_id)
    if as_json:
        print_json(
            {
                "task": public_task(task),
                "preview": preview.as_json(),
                "stats": stats.model_dump(mode="json"),
                "runs": [r.model_dump(mode="json") for r in runs],
            }
        )
        return
    console.print(f"[bold]{task.id}[/bold] — {task.name}")
    if task.description:
        console.print(task.description)
    console.print(
        f"schedule: {task.schedule.expression()} ({preview.description}), zone {task.timezone}"
    )
    console.print(f"action:   {task.action.summary()}", markup=False)
    if isinstance(task.action, HttpAction) and task.action.headers:
        shown = mask_headers(task.action.headers)
        console.print("headers:  " + ", ".join(f"{k}: {v}" for k, v in shown.items()), markup=False)
    state = "enabled" if task.enabled else "paused"
    if task.paused_reason:
        state += f" ({task.paused_reason})"
    console.print(f"state:    {state}; version {task.version}", markup=False)
    console.print(f"source:   {task.source}", markup=False)
    console.print(f"policies: {policy_line(task)}", markup=False)
    console.print(f"stats:    {stats_line(stats)}", markup=False)
    if task.tags:
        console.print(f"tags:     {', '.join(task.tags)}")
    console.print("next:")
    for index, time in enumerate(preview.times):
        mark = "  (moved by DST)" if index in preview.dst_adjusted else ""
        console.print(f"  {time.isoformat()}{mark}")
    console.print(run_table(runs))


@tasks_app.command("add")
@handles_errors
def tasks_add(
    task_id: Annotated[str | None, typer.Argument(help="Task id (slug).")] = None,
    cron_expr: Annotated[str | None, typer.Option("--cron", help="Crontab expression.")] = None,
    every: Annotated[str | None, typer.Option(help="Interval, e.g. 30s, 15m, 1h30m.")] = None,
    at: Annotated[str | None, typer.Option(help="Once, at an ISO 8601 time.")] = None,
    daily_at: Annotated[str | None, typer.Option("--daily", help="Every day at HH:MM.")] = None,
    weekly_at: Annotated[
        str | None, typer.Option("--weekly", help="Weekdays and time, e.g. 'mon,fri@17:00'.")
    ] = None,
    monthly_at: Annotated[
        str | None, typer.Option("--monthly", help="Day and time, e.g. '1@04:00' or 'last@23:00'.")
    ] = None,
    shell: Annotated[str | None, typer.Option(help="Shell command to run.")] = None,
    python: Annotated[str | None, typer.Option(help="Function as package.module:function.")] = None,
    http: Annotated[str | None, typer.Option(help="URL to request.")] = None,
    method: Annotated[str, typer.Option(help="HTTP method for --http.")] = "GET",
    tz: Annotated[str | None, typer.Option("--tz", help="IANA zone of the schedule.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    description: Annotated[str, typer.Option(help="What the task is for.")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="Tag (repeatable).")] = None,
    timeout: Annotated[
        str | None, typer.Option(help="Stop a run after this long, e.g. 15m.")
    ] = None,
    retries: Annotated[int, typer.Option(min=0, help="Further attempts after a failure.")] = 0,
    retry_delay: Annotated[str, typer.Option(help="Backoff base: base * 2**(attempt-1).")] = "60s",
    overlap: Annotated[str, typer.Option(help="allow, skip, queue_one or replace.")] = "skip",
    catchup: Annotated[str, typer.Option(help="After downtime: none, latest or all.")] = "latest",
    max_failures: Annotated[
        int | None, typer.Option(help="Pause after this many failed occurrences in a row.")
    ] = None,
    paused: Annotated[bool, typer.Option(help="Create it paused.")] = False,
    replace: Annotated[bool, typer.Option(help="Replace a task with the same id.")] = False,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Add every task in a TOML/JSON file.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a task (or every task of a file)."""
    cw = _cronwell()
    if file is not None:
        if task_id is not None:
            raise InvalidInputError("Give a task id or --file, not both.")
        saved = _add_file(cw, file, replace)
    else:
        if task_id is None:
            raise InvalidInputError("Give a task id (or --file).")
        data: dict[str, Any] = {
            "id": task_id,
            "schedule": _schedule_option(cron_expr, every, at, daily_at, weekly_at, monthly_at),
            "action": _action_option(shell, python, http, method),
            "description": description,
            "tags": tag or [],
            "timeout": timeout,
            "retries": retries,
            "retry_delay": retry_delay,
            "overlap": overlap,
            "catchup": catchup,
            "max_consecutive_failures": max_failures,
        }
        if paused:  # only when asked: --replace keeps an existing task's pause otherwise
            data["enabled"] = False
        if name:
            data["name"] = name
        if tz:
            data["timezone"] = tz
        saved = [cw.service.save(data, replace_existing=replace, source="cli")]
    if as_json:
        print_json([public_task(t) for t in saved])
    else:
        for task in saved:
            nxt = task.next_fire_after(cw.clock.now())
            console.print(
                f"added [bold]{task.id}[/bold]: {task.schedule.describe()} "
                f"({task.timezone}); next run {when(nxt, task.tz)}"
            )


def _add_file(cw: Cronwell, file: Path, replace: bool) -> list[Any]:
    """The tasks of a document, stored all or none; a task that exists and differs is an
    error without ``--replace``."""
    definitions = load_documents([file])
    plan = cw.service.plan(definitions)
    if plan.update and not replace:
        raise TaskExistsError(plan.update[0].id)
    cw.service.apply(definitions)
    return [cw.service.get(d.id) for d in definitions if d.id is not None]


def _schedule_option(
    cron_expr: str | None,
    every: str | None,
    at: str | None,
    daily_at: str | None,
    weekly_at: str | None,
    monthly_at: str | None,
) -> Any:
    given = {
        k: v
        for k, v in {
            "--cron": cron_expr,
            "--every": every,
            "--at": at,
            "--daily": daily_at,
            "--weekly": weekly_at,
            "--monthly": monthly_at,
        }.items()
        if v is not None
    }
    if len(given) != 1:
        raise InvalidInputError(
            "Give exactly one schedule: --cron, --every, --at, --daily, --weekly or --monthly."
        )
    if cron_expr is not None:
        return cron(cron_expr)
    if every is not None:
        return every_schedule(seconds=parse_duration(every, "--every"))
    if at is not None:
        return once(_parse_iso(at, "--at"))
    if daily_at is not None:
        return daily(daily_at)
    if weekly_at is not None:
        days, _, time = weekly_at.partition("@")
        return weekly(days.split(","), time or "00:00")
    assert monthly_at is not None
    day, _, time = monthly_at.partition("@")
    return monthly("last" if day == "last" else _int(day, "--monthly"), time or "00:00")


def _action_option(shell: str | None, python: str | None, http: str | None, method: str) -> Any:
    given = [x for x in (shell, python, http) if x is not None]
    if len(given) != 1:
        raise InvalidInputError("Give exactly one action: --shell, --python or --http.")
    if shell is not None:
        return ShellAction(command=shell)
    if python is not None:
        return PythonAction(func=python)
    assert http is not None
    return HttpAction(url=http, method=method)


@tasks_app.command("pause")
@handles_errors
def tasks_pause(task_id: str) -> None:
    """Stop firing a task until it is resumed."""
    _cronwell().service.pause(task_id)
    console.print(f"paused {task_id}")


@tasks_app.command("resume")
@handles_errors
def tasks_resume(
    task_id: str,
    catch_up: Annotated[
        bool,
        typer.Option("--catch-up", help="Run what fell while paused, per the task's catchup."),
    ] = False,
) -> None:
    """Fire a paused task again, from now on (what fell while paused is recorded skipped)."""
    cw = _cronwell()
    task = cw.service.resume(task_id, catch_up=catch_up)
    console.print(
        f"resumed {task_id}; next run {when(task.next_fire_after(cw.clock.now()), task.tz)}"
    )


@tasks_app.command("remove")
@handles_errors
def tasks_remove(task_id: str) -> None:
    """Delete a task (its run history stays)."""
    _cronwell().service.delete(task_id)
    console.print(f"removed {task_id}")


@tasks_app.command("run")
@handles_errors
def tasks_run(
    task_id: str,
    queue: Annotated[
        bool, typer.Option("--queue", help="Hand the run to the running service instead.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a task now, here, and print the result (exit code 1 if it did not succeed)."""
    cw = _cronwell()
    run = cw.service.queue_run(task_id) if queue else cw.run_now(task_id)
    if as_json:
        print_json(run.model_dump(mode="json"))
    else:
        _print_run(run)
    if not queue and run.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(EXIT_RUN_FAILED)


# -- runs -------------------------------------------------------------------------------


@runs_app.command("list")
@handles_errors
def runs_list(
    task: Annotated[str | None, typer.Option(help="Only runs of this task.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    wanted = None
    if status is not None:
        try:
            wanted = RunStatus(status)
        except ValueError:
            raise InvalidInputError(
                f"Unknown status {status!r}; use one of {', '.join(s.value for s in RunStatus)}."
            ) from None
    runs = _cronwell().service.list_runs(task_id=task, status=wanted, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in runs])
    else:
        console.print(run_table(runs))


@runs_app.command("show")
@handles_errors
def runs_show(run_id: int, as_json: JsonOpt = False) -> None:
    """Show one run with its output and error."""
    run = _cronwell().service.get_run(run_id)
    if as_json:
        print_json(run.model_dump(mode="json"))
    else:
        _print_run(run)


def _print_run(run: Any) -> None:
    console.print(
        f"run {run.id} of [bold]{run.task_id}[/bold], attempt {run.attempt}: "
        f"{run.status.value}" + (f" ({run.reason})" if run.reason else "")
    )
    console.print(
        f"scheduled for {when(run.scheduled_for)}; started {when(run.started_at)}; "
        f"finished {when(run.finished_at)}"
    )
    if run.duration is not None:
        console.print(f"duration {run.duration:.3f}s")
    if run.pgid is not None:
        console.print(f"process group {run.pgid} on {run.host or 'an unknown host'}", markup=False)
    if run.counters:
        console.print("counters: " + ", ".join(f"{k}={v:g}" for k, v in run.counters.items()))
    if run.return_value:
        console.print(f"returned {run.return_value}", markup=False)
    if run.error:
        console.print(f"[red]error:[/red] {run.error}", highlight=False)
    if run.output:
        console.rule("output")
        console.print(run.output, markup=False, highlight=False)
    if run.traceback:
        console.rule("traceback")
        console.print(run.traceback, markup=False, highlight=False)


# -- status -----------------------------------------------------------------------------


@app.command("status")
@handles_errors
def status(
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="Ask a running service, e.g. http://127.0.0.1:8080, not the database."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="CRONWELL_API_TOKEN", help="The service's API token."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Who schedules and since when, the instances, task counts and the next fires."""
    if url:
        report = fetch_status(url, token)
    else:
        cw = _cronwell()
        cw.store.upgrade()  # not cw.service: this process is no instance to list
        report = database_status(cw.store, cw.clock.now())
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    console.print(status_panel(report), highlight=False)


# -- next -------------------------------------------------------------------------------


@app.command("next")
@handles_errors
def next_times(
    expression: Annotated[str, typer.Argument(help="Crontab expression, e.g. '0 8 * * 1-5'.")],
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA zone; default the configured or system zone.")
    ] = None,
    count: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many times.")] = 5,
    after: Annotated[str | None, typer.Option(help="Start after this ISO 8601 time.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a cron expression in words and its next fire times."""
    zone_name = tz or _options.timezone or load_settings().timezone or system_timezone()
    zone_name = canonical_timezone(zone_name)
    start = _parse_iso(after, "--after", zone_name) if after else None
    preview = cron(expression).preview(count, start, zone_name)
    if as_json:
        print_json(preview.as_json())
        return
    console.print(
        f"{preview.expression}: {preview.description} ({preview.timezone})", highlight=False
    )
    for index, time in enumerate(preview.times):
        mark = "  ← moved by a DST change" if index in preview.dst_adjusted else ""
        console.print(f"  {time.isoformat()}  {time.strftime('%a')}{mark}", highlight=False)


# -- alerts -----------------------------------------------------------------------------


@alerts_app.command("list")
@handles_errors
def alerts_list(
    task: Annotated[str | None, typer.Option(help="Only alerts about this task.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed deliveries.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The notifications log, newest first (secrets in targets are hidden)."""
    records = _cronwell().notifications(
        task_id=task, status="failed" if failed else None, limit=limit
    )
    if as_json:
        print_json([dataclasses.asdict(r) for r in records])
        return
    console.print(notification_table(records))


@alerts_app.command("test")
@handles_errors
def alerts_test(
    target: Annotated[str, typer.Argument(help="A channel name or an Apprise URL.")],
) -> None:
    """Send a test message now and say whether it arrived (exit code 1 if not)."""
    record = _cronwell().test_alert(target)
    if record.status == "sent":
        console.print(f"sent a test alert to {record.target}", markup=False)
        return
    err_console.print(f"could not deliver to {record.target}: {record.error}", markup=False)
    raise typer.Exit(EXIT_RUN_FAILED)


# -- db ---------------------------------------------------------------------------------


@db_app.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Apply database migrations (serve does this on start too)."""
    cw = _cronwell()
    cw.store.upgrade()
    console.print(f"database at {cw.store.sqlite_path or cw.store.display_url} is up to date")


# -- helpers ----------------------------------------------------------------------------


def _parse_iso(text: str, what: str, zone_name: str | None = None) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{what} {text!r} is not an ISO 8601 time such as 2026-11-23T08:00:00+02:00."
        ) from None
    if value.tzinfo is None:
        if zone_name is None:
            raise InvalidInputError(f"{what} {text!r} needs a UTC offset, e.g. {text}+00:00.")
        value = value.replace(tzinfo=zone(zone_name))
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"{what}: {text!r} is not a day number or 'last'.") from None


def _iso(value: datetime | None, task: Any) -> str | None:
    """ISO 8601 in the task's own zone, as a person reading the schedule expects."""
    return value.astimezone(task.tz).isoformat() if value else None


declared.register(app, handles_errors=handles_errors, cronwell=_cronwell, options=_options)


def main() -> None:
    app()
