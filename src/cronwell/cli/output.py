"""Rendering for people (Rich tables) and scripts (``--json``).

Text that users wrote (ids, names, descriptions, commands, tags, errors, output) goes through
:func:`rich.markup.escape` or is printed with ``markup=False``: ``[/etc]`` is a path, not a
closing tag. cronwell's modules and Rich's are imported where they are used, and the two
consoles are made on first use, so that importing the CLI (as shell completion does on
every Tab press) stays light.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.table import Table

    from cronwell.domain.run import Run
    from cronwell.domain.stats import TaskStats
    from cronwell.domain.task import Task
    from cronwell.service.status import SchedulerStatus
    from cronwell.store import NotificationRecord


class _LazyConsole:
    """A :class:`rich.console.Console` made when first used."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def real(self) -> Console:
        """The console itself, for what needs more than attributes (``with``, Progress)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


# soft_wrap: long lines (paths, URLs, error sentences) stay one line for grep and scripts
console = cast("Console", _LazyConsole(soft_wrap=True))
err_console = cast("Console", _LazyConsole(stderr=True, soft_wrap=True))


def real_console(lazy: Console) -> Console:
    """The :class:`~rich.console.Console` behind :data:`console` or :data:`err_console`."""
    return lazy.real() if isinstance(lazy, _LazyConsole) else lazy


def escape(text: str) -> str:
    """``text`` with Rich markup escaped (:func:`rich.markup.escape`), to print as written."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _table(title: str) -> Table:
    from rich.table import Table

    return Table(title=title)


STATUS_STYLE = {  # by RunStatus value
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "abandoned": "red",
    "missed": "yellow",
    "skipped": "yellow",
    "interrupted": "yellow",
    "running": "cyan",
    "queued": "cyan",
    "pending": "cyan",
}


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def when(value: datetime | None, zone: Any = None) -> str:
    if value is None:
        return "-"
    local = value.astimezone(zone) if zone is not None else value
    return local.strftime("%Y-%m-%d %H:%M:%S %Z")


def task_table(tasks: list[Task], next_times: dict[str, datetime | None]) -> Table:
    table = _table(f"{len(tasks)} task(s)")
    for column in ("id", "schedule", "action", "zone", "state", "next run"):
        table.add_column(column)
    for task in tasks:
        table.add_row(
            escape(task.id),
            f"{escape(task.schedule.expression())}\n[dim]{escape(task.schedule.describe())}[/dim]",
            escape(task.action.summary()),
            escape(task.timezone),
            "[green]enabled[/green]" if task.enabled else "[yellow]paused[/yellow]",
            when(next_times.get(task.id), task.tz),
        )
    return table


def run_table(runs: list[Run]) -> Table:
    table = _table(f"{len(runs)} run(s), newest first")
    for column in ("id", "task", "scheduled for (UTC)", "try", "status", "duration", "error"):
        table.add_column(column)
    from cronwell.domain.durations import format_duration

    for run in runs:
        status = run.status.value
        styled = f"[{STATUS_STYLE[status]}]{status}[/]" if status in STATUS_STYLE else status
        table.add_row(
            str(run.id),
            escape(run.task_id),
            when(run.scheduled_for),
            str(run.attempt),
            styled + (f" ({escape(str(run.reason))})" if run.reason else ""),
            format_duration(run.duration) if run.duration is not None else "-",
            escape((run.error or "")[:80]),
        )
    return table


def policy_line(task: Task) -> str:
    from cronwell.domain.durations import format_duration

    parts = [f"overlap {task.overlap}", f"catch-up {task.catchup}"]
    if task.max_instances > 1:
        parts[0] += f" beyond {task.max_instances} at once"
    if task.timeout:
        parts.append(f"timeout {format_duration(task.timeout)}")
    if task.retries:
        parts.append(
            f"{task.retries} retries from {format_duration(task.retry_delay)} "
            f"(cap {format_duration(task.retry_max_delay)})"
        )
    if task.max_consecutive_failures:
        parts.append(f"pause after {task.max_consecutive_failures} failures in a row")
    return ", ".join(parts)


def stats_line(stats: TaskStats) -> str:
    if not stats.runs:
        return "no finished runs yet"
    rate = f"{stats.success_rate:.0%}" if stats.success_rate is not None else "-"
    parts = [f"{stats.runs} runs", f"{stats.failed} failed", f"success {rate}"]
    if stats.avg_duration is not None and stats.p95_duration is not None:
        parts.append(f"avg {stats.avg_duration:.3g}s, p95 {stats.p95_duration:.3g}s")
    parts.append(f"last success {when(stats.last_success)}")
    parts.append(f"last failure {when(stats.last_failure)}")
    if stats.consecutive_failures:
        parts.append(f"{stats.consecutive_failures} failures in a row")
    return "; ".join(parts)


def notification_table(records: list[NotificationRecord]) -> Table:
    table = _table(f"alert deliveries: {len(records)}, newest first")
    for column in ("id", "when", "event", "task", "target", "status", "tries", "error"):
        table.add_column(column)
    for record in records:
        style = "green" if record.status == "sent" else "red"
        table.add_row(
            str(record.id),
            when(record.created_at),
            escape(record.event),
            escape(record.task_id or "-"),
            escape(record.target),
            f"[{style}]{record.status}[/{style}]",
            str(record.attempts),
            escape((record.error or "")[:80]),
        )
    return table


def status_panel(status: SchedulerStatus) -> Group:
    """The scheduler's status for people: who schedules, the instances, the next fires."""
    from rich.console import Group

    if status.source == "service":
        head = (
            f"instance [bold]{escape(status.instance_id or '-')}[/bold] is "
            f"[bold]{status.role}[/bold]"
        )
    else:
        head = "from the database"
    if status.leader:
        scheduling = f"[green]scheduling:[/green] {escape(status.leader)}"
    else:
        scheduling = "[yellow]no instance is scheduling[/yellow]"
    from cronwell.domain.durations import format_duration

    uptime = (
        f", up {format_duration(round(status.uptime_seconds))}"
        if status.uptime_seconds is not None
        else ""
    )
    lines = [
        f"cronwell {status.version}: {head}",
        f"{scheduling}{uptime}",
        f"tasks: {status.tasks} ({status.paused} paused)",
    ]
    parts: list[Any] = ["\n".join(lines)]
    if status.instances:
        instances = _table("instances")
        for column in ("instance", "host", "pid", "started", "last seen"):
            instances.add_column(column)
        for item in status.instances:
            name = escape(item.instance_id)
            instances.add_row(
                f"[bold]{name}[/bold]" if item.instance_id == status.leader else name,
                escape(item.hostname),
                str(item.pid),
                when(item.started_at),
                when(item.last_seen),
            )
        parts.append(instances)
    if status.next_fires:
        fires = _table("next fires")
        fires.add_column("task")
        fires.add_column("at")
        for fire in status.next_fires:
            fires.add_row(escape(fire.task_id), when(fire.at))
        parts.append(fires)
    return Group(*parts)
