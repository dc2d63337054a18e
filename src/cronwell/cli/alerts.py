"""``cronwell alerts``: the notifications log and test deliveries."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from cronwell.cli.app import JsonOpt, alerts_app, handles_errors, open_cronwell
from cronwell.cli.errors import EXIT_RUN_FAILED
from cronwell.cli.output import console, err_console, notification_table, print_json


@alerts_app.command("list")
@handles_errors
def alerts_list(
    task: Annotated[str | None, typer.Option(help="Only alerts about this task.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed deliveries.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The notifications log, newest first (secrets in targets are hidden)."""
    records = open_cronwell().notifications(
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
    record = open_cronwell().test_alert(target)
    if record.status == "sent":
        console.print(f"sent a test alert to {record.target}", markup=False)
        return
    err_console.print(f"could not deliver to {record.target}: {record.error}", markup=False)
    raise typer.Exit(EXIT_RUN_FAILED)
