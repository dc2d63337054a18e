"""The engine: cronwell's wrapper around APScheduler, the only package that imports it."""

from cronwell.engine.engine import Engine

__all__ = ["Engine"]
