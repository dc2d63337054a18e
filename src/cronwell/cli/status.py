"""``cronwell status`` and ``cronwell next``: the scheduler's state and a cron preview."""

from __future__ import annotations

from typing import Annotated

import typer

from cronwell.cli.app import JsonOpt, app, handles_errors, open_cronwell, options, parse_iso
from cronwell.cli.output import console, print_json, status_panel
from cronwell.cli.remote import fetch_status
from cronwell.domain.schedule import cron
from cronwell.domain.timezones import canonical_timezone, system_timezone
from cronwell.service.status import database_status
from cronwell.settings import load_settings


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
        cw = open_cronwell()
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
    zone_name = tz or options.timezone or load_settings().timezone or system_timezone()
    zone_name = canonical_timezone(zone_name)
    start = parse_iso(after, "--after", zone_name) if after else None
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
