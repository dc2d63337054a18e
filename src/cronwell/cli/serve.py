"""``cronwell serve``: the scheduler and its HTTP API in one process."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from cronwell import log as cw_log
from cronwell.api.server import ApiServer
from cronwell.cli.app import app, handles_errors, open_cronwell, opened
from cronwell.cli.output import console, err_console
from cronwell.errors import DatabaseUnavailableError
from cronwell.gcpause import freeze_startup_heap
from cronwell.runtime import read_tasks_file


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
    cw = open_cronwell()
    api = None if no_api else ApiServer(cw, host, port)
    cw.store.check()
    cw.service  # noqa: B018 - opens the database and applies migrations
    for path in tasks_files or []:
        for entry in read_tasks_file(path):
            cw.service.save(entry, replace_existing=True)
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
    opened.remove(cw)
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
