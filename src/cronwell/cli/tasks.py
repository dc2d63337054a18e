"""``cronwell tasks``: create, inspect and operate tasks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronwell.cli.app import (
    JsonOpt,
    TaskIdArg,
    handles_errors,
    open_cronwell,
    parse_iso,
    tasks_app,
)
from cronwell.cli.choices import CatchupChoice, OverlapChoice, TaskState
from cronwell.cli.errors import EXIT_RUN_FAILED
from cronwell.cli.output import (
    console,
    escape,
    policy_line,
    print_json,
    run_table,
    stats_line,
    task_table,
    when,
)
from cronwell.cli.runs import print_run
from cronwell.errors import InvalidInputError

if TYPE_CHECKING:
    from cronwell.domain.task import Task
    from cronwell.runtime import Cronwell


@tasks_app.command("list")
@handles_errors
def tasks_list(
    tag: Annotated[str | None, typer.Option(help="Only tasks with this tag.")] = None,
    state: Annotated[TaskState | None, typer.Option(help="Only enabled or paused tasks.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List tasks with their schedule in words and next run."""
    from cronwell.notify.redact import public_task

    cw = open_cronwell(existing=True)
    enabled = None if state is None else state is TaskState.ENABLED
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
    task_id: TaskIdArg,
    upcoming: Annotated[int, typer.Option("-n", help="Upcoming fire times to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Show one task, its next fire times and its latest runs."""
    from cronwell.domain.action import HttpAction
    from cronwell.domain.masking import mask_headers
    from cronwell.notify.redact import public_task, redacted_task

    cw = open_cronwell(existing=True)
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
    console.print(f"[bold]{escape(task.id)}[/bold] — {escape(task.name)}")
    if task.description:
        console.print(task.description, markup=False)
    console.print(
        f"schedule: {task.schedule.expression()} ({preview.description}), zone {task.timezone}",
        markup=False,
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
        console.print(f"tags:     {', '.join(task.tags)}", markup=False)
    if task.deliver:
        shown_task = redacted_task(task)
        targets = ", ".join(f"{t.to} ({t.format})" for t in shown_task.deliver)
        console.print(f"deliver:  {targets}", markup=False)
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
    overlap: Annotated[
        OverlapChoice, typer.Option(help="When a run is due while one is running.")
    ] = OverlapChoice.SKIP,
    catchup: Annotated[
        CatchupChoice, typer.Option(help="What runs after downtime.")
    ] = CatchupChoice.LATEST,
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
    from cronwell.notify.redact import public_task

    cw = open_cronwell()
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
            "overlap": overlap.value,
            "catchup": catchup.value,
            "max_consecutive_failures": max_failures,
        }
        if paused:  # only when asked: --replace keeps an existing task's pause otherwise
            data["enabled"] = False
        if name:
            data["name"] = name
        if tz:
            data["timezone"] = tz
        if not cw.store.has_schema():
            cw.check_task(data)  # the first task creates the database: check it before
        saved = [cw.service.save(data, replace_existing=replace, source="cli")]
    if as_json:
        print_json([public_task(t) for t in saved])
    else:
        for task in saved:
            nxt = task.next_fire_after(cw.clock.now())
            console.print(
                f"added [bold]{escape(task.id)}[/bold]: {escape(task.schedule.describe())} "
                f"({task.timezone}); next run {when(nxt, task.tz)}"
            )


def _add_file(cw: Cronwell, file: Path, replace: bool) -> list[Task]:
    """The tasks of a document, stored all or none and labelled with the file's name; a
    task that exists and differs is an error without ``--replace``. Nothing is created
    when the document is refused."""
    from cronwell.errors import TaskExistsError
    from cronwell.service.declared import DocumentError, load_documents

    definitions = load_documents([file])
    if not cw.store.has_schema():  # the file creates the database: check it before
        problems = cw.check_definitions(definitions)
        if problems:
            raise DocumentError(problems)
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
    from cronwell.domain.durations import parse_duration
    from cronwell.domain.schedule import cron, daily, monthly, once, weekly
    from cronwell.domain.schedule import every as every_schedule

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
        return once(parse_iso(at, "--at"))
    if daily_at is not None:
        return daily(daily_at)
    if weekly_at is not None:
        days, _, time = weekly_at.partition("@")
        return weekly(days.split(","), time or "00:00")
    assert monthly_at is not None
    day, _, time = monthly_at.partition("@")
    return monthly("last" if day == "last" else _int(day, "--monthly"), time or "00:00")


def _action_option(shell: str | None, python: str | None, http: str | None, method: str) -> Any:
    from cronwell.domain.action import HttpAction, PythonAction, ShellAction

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
def tasks_pause(task_id: TaskIdArg) -> None:
    """Stop firing a task until it is resumed."""
    open_cronwell(existing=True).service.pause(task_id)
    console.print(f"paused {task_id}", markup=False)


@tasks_app.command("resume")
@handles_errors
def tasks_resume(
    task_id: TaskIdArg,
    catch_up: Annotated[
        bool,
        typer.Option("--catch-up", help="Run what fell while paused, per the task's catchup."),
    ] = False,
) -> None:
    """Fire a paused task again, from now on (what fell while paused is recorded skipped)."""
    cw = open_cronwell(existing=True)
    task = cw.service.resume(task_id, catch_up=catch_up)
    console.print(
        f"resumed {task_id}; next run {when(task.next_fire_after(cw.clock.now()), task.tz)}",
        markup=False,
    )


@tasks_app.command("remove")
@handles_errors
def tasks_remove(task_id: TaskIdArg) -> None:
    """Delete a task (its run history stays)."""
    open_cronwell(existing=True).service.delete(task_id)
    console.print(f"removed {task_id}", markup=False)


@tasks_app.command("run")
@handles_errors
def tasks_run(
    task_id: TaskIdArg,
    queue: Annotated[
        bool, typer.Option("--queue", help="Hand the run to the running service instead.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a task now, here, and print the result (exit code 1 if it did not succeed)."""
    from cronwell.domain.run import RunStatus

    cw = open_cronwell(existing=True)
    run = cw.service.queue_run(task_id) if queue else cw.run_now(task_id)
    if as_json:
        print_json(run.model_dump(mode="json"))
    else:
        print_run(run)
    if not queue and run.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(EXIT_RUN_FAILED)


# -- helpers ----------------------------------------------------------------------------


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"{what}: {text!r} is not a day number or 'last'.") from None


def _iso(value: datetime | None, task: Any) -> str | None:
    """ISO 8601 in the task's own zone, as a person reading the schedule expects."""
    return value.astimezone(task.tz).isoformat() if value else None
