"""The one importable entry point every APScheduler job names (DESIGN rule 1).

cronwell's executor intercepts each due job and hands ``(task id, run times)`` to the
dispatcher, so APScheduler never calls :func:`fire` itself; it exists so that jobs carry a
real, importable reference, and calling it runs the task now through the active engine.
"""

from __future__ import annotations

from typing import Protocol


class _Firing(Protocol):
    def fire_now(self, task_id: str) -> None: ...


_active: _Firing | None = None


def set_active(engine: _Firing | None) -> None:
    global _active
    _active = engine


def fire(task_id: str) -> None:
    """Run ``task_id`` now through the engine running in this process."""
    if _active is None:
        raise RuntimeError("no cronwell engine is running in this process")
    _active.fire_now(task_id)
