"""The dashboard's Jinja2 environment: templates from the package, every value escaped,
and the filters that format times, durations and output."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cronwell.domain.durations import format_duration
from cronwell.domain.timezones import zone
from cronwell.service.dashboard import TaskQuery
from cronwell.web.ansi import ansi_to_html
from cronwell.web.charts import hour_strip, run_bars

HERE = Path(__file__).parent
STATIC = HERE / "static"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        ago=ago,
        seconds=seconds,
        ansi=ansi_to_html,
        zone_of=zone_of,
    )
    env.globals.update(hour_strip=hour_strip, run_bars=run_bars, tasks_url=tasks_url)
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def tasks_url(query: TaskQuery, tz: str, **changes: Any) -> str:
    """The stable URL of a tasks page: ``query`` with ``changes`` (``sort``, ``page``),
    in zone choice ``tz``; a new sort starts at page 1."""
    if "sort" in changes and "page" not in changes:
        changes["page"] = 1
    chosen = replace(query, **changes)
    params = {
        "q": chosen.text,
        "tag": chosen.tag,
        "state": chosen.state,
        "sort": chosen.sort,
        "page": chosen.page if chosen.page > 1 else None,
        "tz": "utc" if tz == "utc" else None,
    }
    return "/tasks?" + urlencode({k: v for k, v in params.items() if v})


def zone_of(name: str) -> tzinfo:
    return zone(name)


def when(value: datetime | None, tz: tzinfo | str | None = None, seconds: bool = True) -> str:
    """An instant in ``tz`` (a zone or its name; UTC by default) with the zone's
    abbreviation: ``2026-11-23 08:00:00 CET``."""
    if value is None:
        return "—"
    target = zone(tz) if isinstance(tz, str) else tz or UTC
    local = value.astimezone(target)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {local.tzname() or ''}".strip()


def ago(value: datetime | None, now: datetime) -> str:
    """How long before (or after) ``now``: ``3m 5s ago``, ``in 2h``."""
    if value is None:
        return "—"
    delta = (now - value).total_seconds()
    text = format_duration(round(abs(delta))) if abs(delta) >= 1 else "0s"
    return f"{text} ago" if delta >= 0 else f"in {text}"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.2f} s"
    return format_duration(round(value))
