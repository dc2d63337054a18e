"""Outcomes of the scenarios: the targets each is judged on, the table, the JSON line.

Targets (every scenario that has the figure): 0 unrecorded occurrences, 0 duplicate
executions, 0 overlapping attempts, every leader fault followed by a takeover within the
lease TTL + 2 s, 0 rows left ``running`` after the clean stop, 0 runs that finished in a
live process recorded otherwise, 0 occurrences of an instant action recorded ``skipped``
(nothing could overlap them), 0 fires by a frozen leader, and for the database outage: the
service alive and 0 runs whose ``started_at`` is before their action really started.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.chaos.checks import Figures

FAILOVER_SLACK_S = 2.0
SUMMED = (
    "occurrences",
    "executions",
    "unrecorded",
    "duplicates",
    "overlaps",
    "wrong_status",
    "false_overlaps",
    "running",
)


@dataclass
class Outcome:
    scenario: str
    figures: Figures = field(default_factory=dict)
    summary: str = ""
    failures: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failures


def judge(outcome: Outcome, lease_ttl: float) -> None:
    """Fill ``outcome.failures`` with one sentence per target missed."""
    f = outcome.figures
    if outcome.error is not None:
        outcome.failures.append(f"did not complete: {outcome.error.splitlines()[0]}")
        return
    counted = [
        ("unrecorded", "unrecorded occurrence(s) or execution(s)"),
        ("duplicates", "duplicate execution(s)"),
        ("overlaps", "overlapping attempt(s)"),
        ("running", "row(s) left running"),
        ("failover_missing", "leader fault(s) with no takeover"),
        ("zombie_fires", "fire(s) by a frozen leader"),
        ("service_deaths", "service(s) died during the fault"),
        ("wrong_status", "finished run(s) of a live process recorded other than succeeded"),
        ("false_overlaps", "occurrence(s) of an instant action recorded skipped"),
        ("misdated", "run(s) recorded as started before their action started"),
    ]
    for key, what in counted:
        value = f.get(key)
        if isinstance(value, int) and value > 0:
            outcome.failures.append(f"{value} {what}")
    worst = f.get("failover_max_s")
    limit = lease_ttl + FAILOVER_SLACK_S
    if isinstance(worst, int | float) and worst > limit:
        outcome.failures.append(f"failover {worst:.2f} s > lease TTL + 2 s ({limit:g} s)")


def total(outcomes: Sequence[Outcome]) -> Outcome:
    """The sums over every scenario, the failover spread over all faults, and every
    scenario's failures."""
    figures: Figures = {}
    for key in SUMMED:
        figures[key] = sum(int(o.figures.get(key, 0)) for o in outcomes)  # type: ignore[call-overload]
    gaps = [g for o in outcomes for g in o.figures.get("failover_gaps_s", [])]  # type: ignore[attr-defined]
    known = [float(g) for g in gaps if g is not None]
    figures["faults"] = len(gaps)
    figures["failover_missing"] = len(gaps) - len(known)
    figures["failover_min_s"] = min(known) if known else None
    figures["failover_median_s"] = round(statistics.median(known), 2) if known else None
    figures["failover_max_s"] = max(known) if known else None
    result = Outcome("total", figures)
    result.failures = [f"{o.scenario}: {failure}" for o in outcomes for failure in o.failures]
    return result


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def text_table(outcomes: Sequence[Outcome]) -> str:
    head = (
        "scenario",
        "occurrences",
        "unrecorded",
        "duplicates",
        "overlaps",
        "failover min/med/max s",
        "running",
        "verdict",
        "notes",
    )
    rows: list[tuple[str, ...]] = [head]
    for o in outcomes:
        f = o.figures
        failover = "/".join(_cell(f.get(f"failover_{q}_s")) for q in ("min", "median", "max"))
        verdict = "pass" if o.passed else ("ERROR" if o.error else "FAIL")
        cells = [_cell(f.get(k)) for k in ("occurrences", "unrecorded", "duplicates", "overlaps")]
        rows.append(
            (o.scenario, *cells, failover, _cell(f.get("running")), verdict, o.summary or "")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for index, row in enumerate(rows):
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def json_line(outcomes: Sequence[Outcome], overall: Outcome, options: dict[str, Any]) -> str:
    payload = {
        "options": options,
        "scenarios": [
            {
                "scenario": o.scenario,
                "passed": o.passed,
                "failures": o.failures,
                "error": o.error,
                "figures": o.figures,
            }
            for o in outcomes
        ],
        "total": overall.figures,
        "passed": overall.passed,
        "failures": overall.failures,
    }
    return json.dumps(_finite(payload), separators=(",", ":"), default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
