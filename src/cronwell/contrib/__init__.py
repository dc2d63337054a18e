"""Integrations with the frameworks cronwell's users live in: Django, FastAPI, discord.py.

Each integration is a module of its own, imported only when used. A framework that is not
installed is a :class:`~cronwell.errors.MissingExtraError` naming the extra to install, so
``import cronwell`` never needs any of them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cronwell.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` (a framework an integration needs), or raise
    :class:`MissingExtraError` saying which extra of cronwell installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.partition(".")[0] != exc.name.partition(".")[0]:
            raise
        raise MissingExtraError(
            f"{module} is not installed; this integration needs it: pip install 'cronwell[{extra}]'"
        ) from exc
