"""``cronwell runs``: run history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronwell.cli.app import JsonOpt, handles_errors, open_cronwell, runs_app
from cronwell.cli.output import console, print_json, run_table, when
from cronwell.domain.run import RunStatus
from cronwell.errors import InvalidInputError


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
    runs = open_cronwell().service.list_runs(task_id=task, status=wanted, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in runs])
    else:
        console.print(run_table(runs))


@runs_app.command("show")
@handles_errors
def runs_show(run_id: int, as_json: JsonOpt = False) -> None:
    """Show one run with its output and error."""
    run = open_cronwell().service.get_run(run_id)
    if as_json:
        print_json(run.model_dump(mode="json"))
    else:
        print_run(run)


def print_run(run: Any) -> None:
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
