"""**propagation** — how soon an edit made by another process reaches the scheduling engine.

A leader (``Cronwell``, default settings: ``poll_interval`` 1 s) schedules N hourly tasks. A
second process, with a store of its own as a ``cronwell tasks`` call has, edits each task
once, one edit every 20–60 ms (random, so the edits do not keep step with the polls). An
edit's latency runs from just before the editor's ``update_task`` call until the engine
has applied that version of the task (read from the change log, rescheduled). Figures:
edits picked up (out of N) and latency p50/p99/max. On PostgreSQL the engine is woken by
``LISTEN/NOTIFY``; on SQLite it finds the edit at its next poll.

Both processes read the wall clock of one machine. The engine's pick-up is timed by
wrapping its private ``_apply_change``, the step that applies one changed task.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.common import Figures, fresh_database, lateness_ms
from benchmarks.isolate import run_isolated
from benchmarks.results import CRONWELL, Headline, Result, measure

HEADLINE = Headline("ms edit to pick-up p99", {CRONWELL: "latency_p99_ms"}, False)
_GAP_S = (0.02, 0.06)  # seconds between two edits
_SETTLE_S = 10.0  # how long after the last edit its pick-up may still come
_EDITOR_TIMEOUT_S = 300.0


def run(n: int, backends: list[str]) -> list[Result]:
    scenario = f"propagation {n:,} edits"
    results = []
    for backend in backends:
        with fresh_database(backend) as url:
            results.append(
                measure(
                    scenario,
                    backend,
                    CRONWELL,
                    "benchmarks.propagation:cronwell",
                    HEADLINE,
                    _summary,
                    n=n,
                    url=url,
                )
            )
    return results


def _summary(f: Figures) -> str:
    values = [f.get(f"latency_{q}_ms") for q in ("p50", "p99", "max")]
    shown = "/".join("-" if v is None else f"{v:g}" for v in values)
    return (
        f"{f['picked_up']:,}/{f['n']:,} edits picked up by {f['by']}, "
        f"edit to pick-up p50/p99/max {shown} ms"
    )


def _task_id(index: int) -> str:
    return f"edit-{index:04d}"


def cronwell(n: int, url: str) -> Figures:
    """The leader's side: N tasks, the editor in a child process, the pick-up times."""
    from cronwell import Cronwell, every

    cw = Cronwell(url, timezone="UTC", instance_id="propagation-leader")
    for index in range(n):
        cw.add_task(_task_id(index), schedule=every(hours=1), shell="true")
    engine: Any = cw.engine
    picked: dict[tuple[str, int], float] = {}
    all_picked = threading.Event()
    apply_change = engine._apply_change

    def timed_apply(task_id: str) -> None:
        apply_change(task_id)
        task = engine._tasks.get(task_id)
        if task is not None and task.version > 1:
            picked.setdefault((task_id, task.version), time.time())
            if len(picked) >= n:
                all_picked.set()

    engine._apply_change = timed_apply
    cw.start()
    try:
        listener = engine._listener
        if listener is not None:
            listener.listening.wait(10)
        edits = run_isolated("benchmarks.propagation:editor", _EDITOR_TIMEOUT_S, n=n, url=url).get(
            "edits", []
        )
        all_picked.wait(_SETTLE_S)
        latencies = [
            picked[(task_id, version)] - began
            for task_id, version, began in edits
            if (task_id, version) in picked
        ]
        by = (
            "LISTEN/NOTIFY"
            if listener is not None
            else f"polling every {cw.settings.poll_interval:g} s"
        )
    finally:
        cw.close()
    return {
        "n": n,
        "edits": len(edits),
        "picked_up": len(latencies),
        "by": by,
        "poll_interval_s": cw.settings.poll_interval,
        **lateness_ms(latencies, "latency"),
    }


def editor(n: int, url: str) -> Figures:
    """The other process: edits each task once through a store of its own; returns
    ``[task id, version stored, wall time just before the call]`` per edit."""
    from cronwell.store import Store

    store = Store(url)
    pace = random.Random(18)
    edits: list[tuple[str, int, float]] = []
    try:
        for index in range(n):
            threading.Event().wait(pace.uniform(*_GAP_S))
            task = store.get_task(_task_id(index))
            began = time.time()
            stored = store.update_task(task, datetime.now(UTC))
            edits.append((stored.id, stored.version, began))
    finally:
        store.close()
    return {"edits": edits}
