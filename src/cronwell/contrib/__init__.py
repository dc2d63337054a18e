"""Integrations with the frameworks cronwell's users live in: Django, FastAPI, discord.py.

Each integration is a module of its own, imported only when used. A framework that is not
installed is a :class:`~cronwell.errors.MissingExtraError` naming the extra to install, so
``import cronwell`` never needs any of them.
"""

from __future__ import annotations

from cronwell.extras import require

__all__ = ["require"]
