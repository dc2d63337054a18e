"""Results: one :class:`Result` per (scenario, backend, system) measurement, the ratios of
cronwell to each baseline on a scenario's headline figure, and their presentation (a text
table, a Markdown table for benchmarks/README.md, one JSON line)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.common import Figures
from benchmarks.isolate import run_isolated

CRONWELL = "cronwell"
# cronwell with the heap frozen once it is up, as `cronwell serve` runs it
CRONWELL_FROZEN = "cronwell-frozen"
OURS = (CRONWELL, CRONWELL_FROZEN)
MEMORY = "aps-memory"
SQLALCHEMY = "aps-sqlalchemy"
NO_BACKEND = "-"
CHILD_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Headline:
    """The figure a scenario is compared on: its key for each system, and its direction."""

    label: str
    keys: dict[str, str]
    higher_is_better: bool

    def value(self, system: str, figures: Figures) -> float | None:
        key = self.keys.get(system)
        value = figures.get(key) if key else None
        return float(value) if isinstance(value, int | float) else None


@dataclass
class Result:
    scenario: str
    backend: str
    system: str
    figures: Figures
    summary: str
    headline: Headline
    ratios: dict[str, float] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return self.headline.value(self.system, self.figures)


def measure(
    scenario: str,
    backend: str,
    system: str,
    target: str,
    headline: Headline,
    summarize: Callable[[Figures], str],
    **kwargs: Any,
) -> Result:
    """Run ``target(**kwargs)`` in a child process and wrap what it returns."""
    print(f"… {scenario} · {backend} · {system}", file=sys.stderr, flush=True)
    figures = run_isolated(target, CHILD_TIMEOUT_S, **kwargs)
    if "error" in figures:
        summary = f"ERROR {figures['error']}"
        print(f"  {summary}\n{figures.get('log', '')}", file=sys.stderr, flush=True)
    else:
        summary = summarize(figures)
        print(f"  {summary}", file=sys.stderr, flush=True)
    return Result(scenario, backend, system, figures, summary, headline)


def compute_ratios(results: Sequence[Result]) -> None:
    """For each cronwell result: cronwell ÷ baseline on the headline figure, against the
    baseline of the same scenario on the same backend (or on none, for the memory store)."""
    for ours in results:
        if ours.system not in OURS or ours.value is None:
            continue
        for theirs in results:
            if (
                theirs.system not in OURS
                and theirs.scenario == ours.scenario
                and theirs.backend in (ours.backend, NO_BACKEND)
                and theirs.value
            ):
                ours.ratios[theirs.system] = float(f"{ours.value / theirs.value:.4g}")


def _ratio_text(result: Result) -> str:
    if not result.ratios:
        return ""
    better = "higher" if result.headline.higher_is_better else "lower"
    parts = [f"{_ratio(r)}× {s.removeprefix('aps-')}" for s, r in result.ratios.items()]
    return f"{', '.join(parts)} ({result.headline.label}, {better} is better)"


def _ratio(value: float) -> str:
    """Three significant digits, trailing zeros kept (``1.00``, ``0.0357``, ``464``)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:#.3g}"


def text_table(results: Sequence[Result]) -> str:
    rows = [("scenario", "backend", "system", "figures", "ratio cronwell/APScheduler")]
    rows += [(r.scenario, r.backend, r.system, r.summary, _ratio_text(r)) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(results: Sequence[Result]) -> str:
    """One row per (scenario, backend): each system's headline figure and the ratios."""
    head = (
        "| scenario | backend | cronwell | APScheduler memory | "
        "APScheduler SQLAlchemyJobStore | ratio cronwell/APScheduler |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for ours in (r for r in results if r.system in OURS):
        cells = [_cell(ours)]
        for system in (MEMORY, SQLALCHEMY):
            match = [
                r
                for r in results
                if r.system == system
                and r.scenario == ours.scenario
                and r.backend in (ours.backend, NO_BACKEND)
            ]
            cells.append(_cell(match[0]) if match else "—")
        scenario = ours.scenario + (" (heap frozen)" if ours.system == CRONWELL_FROZEN else "")
        lines.append(f"| {scenario} | {ours.backend} | {' | '.join(cells)} | {_ratio_text(ours)} |")
    return "\n".join(lines)


def _cell(result: Result) -> str:
    if "error" in result.figures:
        return "error"
    value = result.value
    if value is None:
        return result.summary
    return f"{_number(value)} {result.headline.label}"


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def json_line(results: Sequence[Result], options: dict[str, Any]) -> str:
    """Everything measured, as one line of strict JSON (NaN becomes null)."""
    payload = {
        "options": options,
        "results": [
            {
                "scenario": r.scenario,
                "backend": r.backend,
                "system": r.system,
                "headline": asdict(r.headline),
                "figures": {k: v for k, v in r.figures.items() if k != "log"},
                "ratios": r.ratios,
            }
            for r in results
        ],
    }
    return json.dumps(_finite(payload), separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def skipped(scenario: str, backend: str, system: str, reason: str, headline: Headline) -> Result:
    """A measurement left out on purpose, with the reason shown in the table."""
    return Result(scenario, backend, system, {"skipped": reason}, f"not run: {reason}", headline)


def late(figures: Figures, prefix: str = "lateness") -> str:
    """``late p50/p99/max 1.2/30/41 ms`` from a scenario's lateness figures."""
    values = [figures.get(f"{prefix}_{q}_ms") for q in ("p50", "p99", "max")]
    shown = "/".join("-" if v is None else f"{v:g}" for v in values)
    return f"late p50/p99/max {shown} ms"
