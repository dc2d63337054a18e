"""The ``cronwell`` command: serve, status, tasks, runs, next, alerts, db.

The Typer app lives in :mod:`cronwell.cli.app`; each command group is a module that
registers its commands on it when imported, here.
"""

from __future__ import annotations

from cronwell.cli import alerts, db, runs, serve, status, tasks
from cronwell.cli.app import app

__all__ = ["alerts", "app", "db", "main", "runs", "serve", "status", "tasks"]


def main() -> None:
    app()
