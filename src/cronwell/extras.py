"""The optional parts of cronwell and the extra that installs each.

The embedded library on SQLite needs only cronwell's core dependencies. PostgreSQL, the
server (``cronwell serve``: the HTTP API, the dashboard, the Prometheus metrics), alerts
and the framework integrations each need packages of their own, installed with an extra
(``pip install 'cronwell[postgres]'``). Code that needs one calls :func:`require` where the
need first arises, so that a missing package is one sentence naming the extra instead of
an ``ImportError`` from deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cronwell.errors import MissingExtraError


def require(module: str, extra: str, needed_by: str = "this integration") -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` saying that ``needed_by``
    needs it and which extra of cronwell installs it. Any other import error (the package
    is there but one of its own imports fails) propagates unchanged."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not is_missing(exc, module):
            raise
        raise missing_extra(module, extra, needed_by) from exc


def require_all(modules: tuple[str, ...], extra: str, needed_by: str) -> None:
    """:func:`require` each of ``modules``: the first missing one is the error."""
    for module in modules:
        require(module, extra, needed_by)


def is_missing(exc: ModuleNotFoundError, module: str) -> bool:
    """Whether ``exc`` says that ``module``'s own package is not installed."""
    return exc.name is not None and module.partition(".")[0] == exc.name.partition(".")[0]


def missing_extra(module: str, extra: str, needed_by: str) -> MissingExtraError:
    """The error for a missing ``module``, in one sentence naming the extra to install."""
    return MissingExtraError(
        f"{module} is not installed; {needed_by} needs it: pip install 'cronwell[{extra}]'"
    )


#: What each part needs, for :func:`require_all` where the part is first used.
SERVER_MODULES = ("fastapi", "starlette", "uvicorn", "jinja2", "prometheus_client")
ALERT_MODULES = ("apprise", "jinja2")
