"""``manage.py cronwell …``: cronwell's whole command line on the project's settings.

Every command of ``cronwell`` (``serve``, ``status``, ``tasks``, ``runs``, ``db``,
``alerts``, ``apply``…) runs with the project's Cronwell: its database and zone come from
Django's settings (``CRONWELL``, ``DATABASES``, ``TIME_ZONE``), and ``serve`` schedules the
tasks declared in the apps' ``tasks.py``, synced at start. ``manage.py cronwell serve`` is
the scheduler process of ``"worker"`` mode.
"""

from __future__ import annotations

import sys
from argparse import REMAINDER
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cronwell.contrib.django import scheduler

# Django's own options, which manage.py has applied before the command runs
_DJANGO_OPTIONS = ("--settings", "--pythonpath")
# cronwell's global options that would name another database or zone than the settings'
_DATABASE_OPTIONS = ("-d", "--database-url", "--timezone")


class Command(BaseCommand):
    help = (
        "cronwell's command line with this project's settings: `manage.py cronwell --help` "
        "lists its commands (serve, status, tasks, runs, db, alerts…)."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("args", nargs=REMAINDER, help="a cronwell command and its options")
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        """``manage.py cronwell ARGS``: hand ARGS to cronwell's command line, which exits
        with its own codes (2 for bad input, 3 for not found…)."""
        prog = f"{Path(argv[0]).name} {argv[1]}"
        try:
            code = run(_without_django_options(argv[2:]), prog)
        except CommandError as exc:
            self.stderr.write(f"CommandError: {exc}")
            sys.exit(exc.returncode)
        sys.exit(code)

    def handle(self, *args: str, **options: Any) -> None:
        """``call_command("cronwell", "tasks", "list")``: a failure is a
        :class:`CommandError` carrying cronwell's exit code."""
        code = run(list(args), "manage.py cronwell")
        if code:
            raise CommandError(f"cronwell exited with code {code}", returncode=code)


def run(args: Sequence[str], prog: str) -> int:
    """Run cronwell's command line with ``args`` on the project's Cronwell; its exit code."""
    from cronwell.cli import app as cli
    from cronwell.cli.main import app

    _refuse_database_options(args)
    cli.options.factory = scheduler.get_cronwell
    try:
        app(args=list(args), prog_name=prog, standalone_mode=True)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        cli.options.factory = None
        # the command line closed what it opened: the next use builds a new instance
        scheduler.forget()
    return 0


def _refuse_database_options(args: Sequence[str]) -> None:
    for arg in args:
        if not arg.startswith("-"):
            return  # options after the command name are the command's own
        if arg.partition("=")[0] in _DATABASE_OPTIONS:
            raise CommandError(
                f"manage.py cronwell takes the database and zone from Django's settings "
                f"(CRONWELL, DATABASES, TIME_ZONE), not {arg.partition('=')[0]}; run "
                "`cronwell --database-url …` for another database.",
                returncode=2,
            )


def _without_django_options(args: Sequence[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _DJANGO_OPTIONS:
            skip = True  # its value follows
        elif not arg.startswith(tuple(f"{option}=" for option in _DJANGO_OPTIONS)):
            kept.append(arg)
    return kept
