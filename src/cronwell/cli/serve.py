"""``cronwell serve``: the scheduler and its HTTP API in one process."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cronwell.cli import sdnotify
from cronwell.cli.app import JsonOpt, app, handles_errors, open_cronwell, opened
from cronwell.cli.choices import LogLevel
from cronwell.cli.output import console, err_console, print_json
from cronwell.errors import CronwellError, DatabaseUnavailableError, InvalidInputError

if TYPE_CHECKING:
    from cronwell.api.server import ApiServer
    from cronwell.runtime import Cronwell
    from cronwell.runtime.reload import TasksFiles


@app.command()
@handles_errors
def serve(
    tasks_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--tasks",
            "-t",
            help="Tasks file (TOML, YAML or JSON; repeatable) the service holds its tasks to: "
            "applied with prune for its source at start and on every reload (SIGHUP, "
            "`cronwell reload`, POST /api/v1/reload).",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Label of the files' tasks (default: each file's name); a "
            "reload deletes only the tasks of this source that the files no longer declare.",
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Apply the tasks files again when one changes.")
    ] = False,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            case_sensitive=False,
            help="Log level (default: CRONWELL_LOG_LEVEL, else INFO).",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address of the HTTP API.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the HTTP API (0: any free one).")] = 8080,
    no_api: Annotated[bool, typer.Option("--no-api", help="Serve no HTTP API.")] = False,
) -> None:
    """Run the scheduler and its HTTP API until SIGINT or SIGTERM; SIGHUP applies the tasks
    files again."""
    from cronwell import gcpause
    from cronwell import log as cw_log
    from cronwell.runtime.reload import FileWatcher, TasksFiles

    stop = threading.Event()
    wake = threading.Event()
    hangups: list[int] = []

    def on_hangup(signum: int, _frame: object) -> None:
        hangups.append(signum)  # applied by the main loop, not inside the handler
        wake.set()

    signal.signal(signal.SIGHUP, on_hangup)  # from the start: a reload is never fatal
    cw = open_cronwell()
    if cw.settings.gc_hold is not False:  # unset: this process is cronwell's own
        gcpause.configure(True)
    if log_level is not None:
        cw_log.configure(log_level.value, "--log-level")
    else:
        cw_log.configure(cw.settings.log_level, "CRONWELL_LOG_LEVEL")
    files = TasksFiles(cw, tasks_files, source=source) if tasks_files else None
    if files is None and (watch or source is not None):
        raise InvalidInputError(
            f"{'--watch' if watch else '--source'} needs a tasks file (--tasks FILE)."
        )
    if files is not None:
        files.check()  # a file with problems stops the start before the database is opened
    # bound first: a port held by another process stops the start before anything runs
    api = None if no_api else _api_server(cw, host, port, files)
    cw.store.check()
    cw.service  # noqa: B018 - opens the database and applies migrations
    if files is not None:
        files.apply(reason="start", alert=False)

    def on_signal(signum: int, _frame: object) -> None:
        err_console.print(f"received {signal.Signals(signum).name}; stopping…")
        stop.set()
        wake.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # the service is up before it schedules: /readyz answers 503 until the engine runs
    api_url = api.start() if api is not None else None
    cw.start()
    where = cw.store.sqlite_path or cw.store.display_url
    console.print(
        f"cronwell is running: {len(cw.list_tasks())} task(s), history in {where}", markup=False
    )
    if not cw.engine.is_leader:
        console.print(
            f"Another instance ({cw.engine.leader}) schedules on this database: this one "
            "stands by and takes over if that one stops.",
            markup=False,
        )
    console.print(cw.summary(), highlight=False, markup=False)
    if api_url is not None:
        console.print(f"API on {api_url}/api/v1 (health: /healthz)", markup=False)
        console.print(f"Dashboard on {api_url}/", markup=False)
    if gcpause.allowed():
        gcpause.freeze_startup_heap()  # all that is up now lives as long as this process
    watcher = FileWatcher(files) if watch and files is not None else None
    if watcher is not None:
        watcher.start()
    console.print("Press Ctrl+C to stop.")
    sys.stdout.flush()
    role = "leader" if cw.engine.is_leader else "standby"
    sdnotify.notify(f"READY=1\nSTATUS={len(cw.list_tasks())} task(s), {role}")
    while not stop.is_set():
        wake.wait()
        wake.clear()
        if hangups and not stop.is_set():
            hangups.clear()
            _reload_on_hangup(files)
    sdnotify.notify("STOPPING=1")
    if watcher is not None:
        watcher.stop()
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


def _api_server(cw: Cronwell, host: str, port: int, files: TasksFiles | None) -> ApiServer:
    """The HTTP API and the dashboard, or a sentence naming the extra they need."""
    from cronwell.extras import SERVER_MODULES, require_all

    require_all(SERVER_MODULES, "server", "cronwell serve's HTTP API")
    from cronwell.api.server import ApiServer  # FastAPI and uvicorn: only serve needs them

    return ApiServer(cw, host, port, reload=files)


def _reload_on_hangup(files: TasksFiles | None) -> None:
    """SIGHUP: apply the tasks files again. A rejection or a failure is logged (and
    alerted) by :class:`TasksFiles`; the service goes on with what it has."""
    if files is None:
        err_console.print("received SIGHUP; no tasks file to apply again (serve --tasks FILE)")
        return
    with contextlib.suppress(CronwellError):  # logged: config_rejected, config_apply_failed
        files.apply(reason="SIGHUP")


@app.command("reload")
@handles_errors
def reload(
    url: Annotated[
        str, typer.Option("--url", help="The running service (cronwell serve --tasks FILE).")
    ] = "http://127.0.0.1:8080",
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="CRONWELL_API_TOKEN", help="The service's API token."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask a running service to apply its tasks files again, as SIGHUP does. Files with a
    problem change nothing: the problems are printed and the exit code is 2."""
    from cronwell.cli.remote import reload_service

    plan = reload_service(url, token)
    if as_json:
        print_json(plan)
        return
    files = ", ".join(plan.get("files") or []) or "its tasks files"
    created, updated, deleted = plan["create"], plan["update"], plan["delete"]
    for item in created:
        console.print(f"+ {item['id']}", markup=False, highlight=False)
    for item in updated:
        fields = ", ".join(item.get("changes") or {})
        console.print(f"~ {item['id']} ({fields})", markup=False, highlight=False)
    for item in deleted:
        console.print(f"- {item['id']}", markup=False, highlight=False)
    console.print(
        f"Applied {files}: {len(created)} created, {len(updated)} updated, "
        f"{len(deleted)} deleted, {plan['unchanged']} unchanged.",
        markup=False,
        highlight=False,
    )
