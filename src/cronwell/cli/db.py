"""``cronwell db``: database maintenance."""

from __future__ import annotations

from cronwell.cli.app import db_app, handles_errors, open_cronwell
from cronwell.cli.output import console, real_console


@db_app.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Apply database migrations (serve does this on start too)."""
    cw = open_cronwell()
    if console.is_terminal and not cw.store.is_current():  # a bar for people, not logs
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("migrating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),  # the revision just applied
            console=real_console(console),
        ) as progress:
            bar = progress.add_task("", total=None)

            def on_step(done: int, total: int, description: str) -> None:
                progress.update(bar, completed=done, total=total, description=description)

            cw.store.upgrade(on_step)
    else:
        cw.store.upgrade()
    where = cw.store.sqlite_path or cw.store.display_url
    console.print(f"database at {where} is up to date", markup=False)
