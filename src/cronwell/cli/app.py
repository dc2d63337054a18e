"""The Typer app, its command groups, global options and what every command shares.

The command modules import cronwell's heavier parts (the runtime, the store, FastAPI,
httpx) inside the commands that use them: shell completion imports every command module
on each Tab press and must answer at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cronwell.cli.completion import complete_task_id
from cronwell.cli.errors import EXIT_INTERRUPTED, exit_code
from cronwell.cli.output import err_console, escape
from cronwell.errors import CronwellError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from cronwell.runtime import Cronwell

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
TaskIdArg = Annotated[str, typer.Argument(help="Task id.", autocompletion=complete_task_id)]


class _Options:
    database_url: str | None = None
    timezone: str | None = None
    # Builds the Cronwell of every command in place of one made from the options above:
    # an integration (``manage.py cronwell``) hands over its application's own, with its
    # declared tasks and the framework's settings.
    factory: Callable[[], Cronwell] | None = None


options = _Options()


def _print_version(value: bool) -> None:
    if value:
        from cronwell.version import __version__

        print(f"cronwell {__version__}")
        raise typer.Exit()


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
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print cronwell's version and exit.",
        ),
    ] = False,
) -> None:
    options.database_url = database_url
    options.timezone = timezone


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
            while opened:
                opened.pop().close()

    return wrapper  # type: ignore[return-value]


opened: list[Cronwell] = []


def open_cronwell(*, existing: bool = False, **kwargs: Any) -> Cronwell:
    """A Cronwell for one command, closed when the command ends.

    ``existing``: the command reads or changes what is stored, so a database without
    cronwell's tables (a mistyped SQLite path above all) is a :class:`NotFoundError`, and
    nothing is created or migrated. Commands that create (``tasks add``, ``serve``, ``db
    upgrade``) leave it ``False``.
    """
    from cronwell.runtime import Cronwell

    if options.factory is not None:
        cw = options.factory()
    else:
        cw = Cronwell(database_url=options.database_url, timezone=options.timezone, **kwargs)
    if cw not in opened:  # a factory may hand the same instance to two calls
        opened.append(cw)
    if existing:
        require_database(cw)
    return cw


def require_database(cw: Cronwell) -> None:
    """Raise :class:`NotFoundError` when ``cw``'s database holds no cronwell tables."""
    if cw.store.read_only or cw.store.has_schema():
        return  # a read-only file that needs migrating: the store says to make it writable
    if cw.store.sqlite_path is not None:
        raise NotFoundError(
            f"No database at {cw.store.sqlite_path}; create it with `cronwell db upgrade` "
            "or by adding a task."
        )
    raise NotFoundError(
        f"No cronwell tables in {cw.store.display_url}; create them with `cronwell db "
        "upgrade` or by adding a task."
    )


def parse_iso(text: str, what: str, zone_name: str | None = None) -> datetime:
    """``text`` as an aware time; a naive one is read in ``zone_name`` when given."""
    from cronwell.domain.timezones import zone

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
