"""Inline SVG charts rendered on the server (no chart library): the overview's 24-hour
strip of runs by status, and a task's last runs by duration and status. Every text put in
them is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from cronwell.domain.run import Run

# drawn bottom up in this order; the CSS gives each its colour
STATUS_ORDER = (
    "succeeded",
    "running",
    "queued",
    "pending",
    "failed",
    "timed_out",
    "abandoned",
    "interrupted",
    "missed",
    "skipped",
)


def hour_strip(
    counts: Mapping[tuple[datetime, str], int], end: datetime, hours: int = 24
) -> Markup:
    """A column per hour up to ``end``, its height the runs of that hour, stacked by
    status; each segment's title says how many of which status at which hour (UTC)."""
    width, height, gap = 24, 60, 2
    first = end.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    columns = [first + timedelta(hours=i) for i in range(hours)]
    totals = [sum(counts.get((hour, s), 0) for s in STATUS_ORDER) for hour in columns]
    top = max(totals, default=0) or 1
    parts = [
        f'<svg class="strip" viewBox="0 0 {hours * width} {height + 14}" role="img" '
        f'aria-label="Runs per hour over the last {hours} hours, by status">'
    ]
    for index, hour in enumerate(columns):
        x = index * width
        y = float(height)
        for status in STATUS_ORDER:
            count = counts.get((hour, status), 0)
            if not count:
                continue
            h = max(1.0, height * count / top)
            y -= h
            title = escape(f"{hour:%Y-%m-%d %H}:00 UTC: {count} {status.replace('_', ' ')}")
            parts.append(
                f'<rect class="s-{status}" x="{x + gap / 2}" y="{y:.1f}" '
                f'width="{width - gap}" height="{h:.1f}"><title>{title}</title></rect>'
            )
        if index % 6 == 0:
            parts.append(f'<text x="{x}" y="{height + 12}">{hour:%H}h</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def run_bars(runs: Sequence[Run], link: str = "/runs/") -> Markup:
    """A bar per run, oldest left, its height the run's duration (runs without one get a
    sliver), its colour its status; each bar links to its run."""
    if not runs:
        return Markup('<p class="muted">No runs yet.</p>')
    width, height = 8, 80
    top = max((r.duration or 0.0 for r in runs), default=0.0) or 1.0
    parts = [
        f'<svg class="bars" viewBox="0 0 {len(runs) * width} {height}" role="img" '
        f'aria-label="Duration and status of the last {len(runs)} runs">'
    ]
    for index, run in enumerate(runs):
        h = max(2.0, height * (run.duration or 0.0) / top)
        took = f"{run.duration:.3f}s" if run.duration is not None else "no duration"
        title = escape(
            f"run {run.id}, {run.scheduled_for:%Y-%m-%d %H:%M:%S} UTC: {run.status.value}, {took}"
        )
        parts.append(
            f'<a href="{link}{run.id}"><rect class="s-{run.status.value}" x="{index * width + 1}" '
            f'y="{height - h:.1f}" width="{width - 2}" height="{h:.1f}">'
            f"<title>{title}</title></rect></a>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
