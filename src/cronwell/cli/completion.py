"""Shell completion of task ids, from the database the command line names.

Completion runs the ``cronwell`` command on every Tab press, so this path stays light: the
ids come from :mod:`cronwell.store.peek` (the database driver alone, a short timeout), and
no command module imports FastAPI, uvicorn, httpx, SQLAlchemy or the runtime at the top.
"""

from __future__ import annotations

import os

import click

# settings.DEFAULT_DATABASE_URL, without importing pydantic-settings on every Tab press
DEFAULT_DATABASE_URL = "sqlite:///cronwell.db"
TIMEOUT_S = 0.1


def complete_task_id(ctx: click.Context, incomplete: str) -> list[str]:
    """The stored task ids that start with ``incomplete``; none when the database cannot
    be read at once."""
    from cronwell.store.peek import task_ids

    return task_ids(_database_url(ctx), incomplete, timeout=TIMEOUT_S)


def _database_url(ctx: click.Context) -> str:
    """``--database-url``, else ``CRONWELL_DATABASE_URL`` (Click fills both in), else a
    ``.env`` file's setting, else the default."""
    given = ctx.find_root().params.get("database_url")
    if given:
        return str(given)
    if os.path.exists(".env"):  # settings read it; only then pay for loading them
        from cronwell.settings import load_settings

        return load_settings().database_url
    return DEFAULT_DATABASE_URL
