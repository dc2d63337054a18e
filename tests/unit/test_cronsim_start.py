"""The one use of cronsim's internals (``cronwell.domain.cronsim_start``) gives exactly what
cronsim's public constructor gives: over expressions of every shape, zones with and
without DST, and starts around the changes. A cronsim release that changes its internals
fails here, loudly, rather than in a schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from cronwell.domain import cronsim_start

EXPRESSIONS = [
    "* * * * *",
    "*/7 * * * *",
    "30 2 * * *",  # inside the spring-forward gap in Europe
    "30 1 * * *",  # inside the repeated hour in America/New_York
    "0 8 * * 1-5",
    "0 0 L * *",
    "0 12 * * 5L",
    "15 10 1,15 * MON",
    "0 */3 * * *",
    "*/10 * * * * *",
    "15 30 2 * * *",
    "0 0 29 2 *",
]
ZONES = [UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Jerusalem")]
STARTS = [
    datetime(2026, 3, 29, 0, 10, 7, 123456, tzinfo=UTC),  # Europe springs forward at 01:00 UTC
    datetime(2026, 10, 25, 0, 0, tzinfo=UTC),  # Europe falls back at 01:00 UTC
    datetime(2026, 11, 1, 4, 0, tzinfo=UTC),  # New York falls back at 06:00 UTC
    datetime(2026, 3, 8, 6, 30, tzinfo=UTC),  # New York springs forward at 07:00 UTC
    datetime(2028, 2, 27, 23, 59, 59, tzinfo=UTC),
]


def test_this_cronsim_is_one_whose_internals_are_known() -> None:
    """A new cronsim without the expected attributes still schedules correctly (the public
    constructor is used), but slower: that must be noticed and the adapter updated."""
    assert cronsim_start.COPIES, f"cronsim {version('cronsim')} changed its internals"


@pytest.mark.parametrize("fields", EXPRESSIONS)
def test_a_copied_template_walks_like_a_new_cronsim(fields: str) -> None:
    template = CronSim(fields, datetime(2000, 1, 1, tzinfo=UTC))
    for zone in ZONES:
        for start in STARTS:
            local = start.astimezone(zone)
            expected = list(islice(CronSim(fields, local), 40))
            got = list(islice(cronsim_start.sim_at(template, fields, local), 40))
            assert got == expected, (fields, zone, start)
            # the copy leaves the template as it was
            assert list(islice(cronsim_start.sim_at(template, fields, local), 1)) == expected[:1]


def test_the_fallback_is_the_public_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cronsim_start, "COPIES", False)
    template = CronSim("0 8 * * *", datetime(2000, 1, 1, tzinfo=UTC))
    start = datetime(2026, 3, 29, tzinfo=ZoneInfo("Europe/Paris"))
    sim = cronsim_start.sim_at(template, "0 8 * * *", start)
    assert sim is not template
    assert next(sim) == datetime(2026, 3, 29, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert next(sim) - timedelta(days=1) == datetime(
        2026, 3, 29, 8, tzinfo=ZoneInfo("Europe/Paris")
    )
