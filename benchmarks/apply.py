"""**apply** — tasks as code at fleet size: ``cronwell apply`` of a JSON document of N tasks.

What ``cronwell apply FILE --prune`` does, in one process: read the document, validate every
definition, plan against the database and store the plan in one transaction. Three applies
of the same file name (so the same source): the first creates N tasks in an empty database;
the second applies the document with 1% of the tasks changed (a new cron expression); the
third applies that document again and changes nothing. Figures: each apply's seconds (and
its plan's counts), tasks per second of the first. There is no APScheduler counterpart.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figures, fresh_database
from benchmarks.results import CRONWELL, Headline, Result, measure

HEADLINE = Headline("s second apply (1% changed)", {CRONWELL: "update_s"}, False)
CHANGED_EVERY = 100  # one task in a hundred changes for the second apply


def run(n: int, backends: list[str]) -> list[Result]:
    scenario = f"apply {n:,} tasks"
    results = []
    for backend in backends:
        with fresh_database(backend) as url:
            results.append(
                measure(
                    scenario,
                    backend,
                    CRONWELL,
                    "benchmarks.apply:cronwell",
                    HEADLINE,
                    _summary,
                    n=n,
                    url=url,
                )
            )
    return results


def _summary(f: Figures) -> str:
    return (
        f"create {f['create_s']:.2f} s ({f['created']:,} tasks, {f['create_tasks_per_s']:,.0f}/s), "
        f"1% changed {f['update_s']:.2f} s ({f['updated']:,} updated), "
        f"no change {f['noop_s']:.2f} s"
    )


def _document(n: int, changed: bool) -> list[dict[str, Any]]:
    tasks = []
    for index in range(n):
        minute = index % 60
        if changed and index % CHANGED_EVERY == 0:
            minute = (minute + 1) % 60
        tasks.append(
            {
                "id": f"fleet-{index:07d}",
                "description": "A task of a generated fleet.",
                "cron": f"{minute} * * * *",
                "action": {"kind": "shell", "command": "true"},
                "timezone": "UTC",
                "tags": ["fleet"],
            }
        )
    return tasks


def cronwell(n: int, url: str) -> Figures:
    from cronwell import Cronwell
    from cronwell.service.declared import dump_document, load_documents

    cw = Cronwell(url, timezone="UTC", instance_id="apply-bench")
    cw.service  # noqa: B018 - migrated before the clock starts
    figures: Figures = {"n": n}
    with tempfile.TemporaryDirectory(prefix="cronwell-apply-") as folder:
        path = Path(folder) / "fleet.json"
        try:
            for label, changed in (("create", False), ("update", True), ("noop", True)):
                path.write_text(dump_document(_document(n, changed), "json"))
                began = time.perf_counter()
                plan = cw.service.apply(load_documents([path]), prune=True)
                figures[f"{label}_s"] = round(time.perf_counter() - began, 3)
                figures.setdefault("created", len(plan.create))
                if label == "update":
                    figures["updated"] = len(plan.update)
                if label == "noop":
                    figures["noop_unchanged"] = plan.unchanged
        finally:
            cw.close()
    figures["create_tasks_per_s"] = round(n / figures["create_s"])
    return figures
