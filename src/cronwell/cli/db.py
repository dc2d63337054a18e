"""``cronwell db``: database maintenance."""

from __future__ import annotations

from cronwell.cli.app import db_app, handles_errors, open_cronwell
from cronwell.cli.output import console


@db_app.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Apply database migrations (serve does this on start too)."""
    cw = open_cronwell()
    cw.store.upgrade()
    console.print(f"database at {cw.store.sqlite_path or cw.store.display_url} is up to date")
