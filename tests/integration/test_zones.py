"""Zone objects (ZoneInfo, pytz, dateutil) are accepted wherever a zone name is, and a bad
zone is named where it came from: the argument, or CRONWELL_TIMEZONE."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytz
from apscheduler.triggers.cron import CronTrigger
from dateutil import tz as dateutil_tz

from cronwell import Cronwell
from cronwell.errors import UnknownTimezoneError, UnnamedTimezoneError


def job() -> None:
    return None


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, ZoneInfo("Asia/Jerusalem"), poll_interval=0.1)
    yield instance
    instance.close()


def test_cronwell_takes_a_zoneinfo_and_tasks_default_to_it(cw: Cronwell) -> None:
    assert cw.timezone == "Asia/Jerusalem"
    task = cw.add_task("t", schedule="0 8 * * *", func=job)
    assert task.timezone == "Asia/Jerusalem"
    assert cw.get_task("t").timezone == "Asia/Jerusalem"


@pytest.mark.parametrize(
    "zone",
    [pytz.timezone("Asia/Tokyo"), dateutil_tz.gettz("Asia/Tokyo"), ZoneInfo("Asia/Tokyo")],
    ids=["pytz", "dateutil", "zoneinfo"],
)
def test_zone_objects_are_taken_by_every_door(database_url: str, zone: object) -> None:
    cw = Cronwell(database_url, zone, poll_interval=0.1)  # type: ignore[arg-type]
    try:
        assert cw.timezone == "Asia/Tokyo"
        cw.add_task("by-add-task", schedule="0 8 * * *", func=job, timezone=zone)

        @cw.task(cron="0 9 * * *", timezone=zone, id="decorated")
        def decorated() -> None:
            return None

        cw.add_job(job, "cron", hour=10, timezone=zone, id="by-add-job")
        cw.add_job(job, CronTrigger(hour=11, timezone=zone), id="by-trigger")  # type: ignore[arg-type]
        for task_id in ("by-add-task", "decorated", "by-add-job", "by-trigger"):
            stored = cw.get_task(task_id)
            assert stored.timezone == "Asia/Tokyo", task_id
            first = stored.preview(1).times[0]
            assert first.utcoffset() == timedelta(hours=9), task_id
    finally:
        cw.close()


def test_a_fixed_offset_is_refused_with_what_to_pass(cw: Cronwell, database_url: str) -> None:
    with pytest.raises(UnnamedTimezoneError) as caught:
        Cronwell(database_url, timezone(timedelta(hours=3)))
    message = str(caught.value)
    assert message.startswith("Cronwell(timezone=...): ")
    assert "'Etc/GMT-3'" in message
    assert "CRONWELL_TIMEZONE" not in message
    with pytest.raises(UnnamedTimezoneError, match="'Europe/Paris'"):
        cw.add_task("t", schedule="0 8 * * *", func=job, timezone=pytz.FixedOffset(60))
    with pytest.raises(UnnamedTimezoneError, match="'Etc/GMT-1'"):
        cw.add_job(job, "cron", hour=8, timezone=pytz.FixedOffset(60))
    assert cw.list_tasks() == []


def test_a_bad_zone_is_named_where_it_came_from(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRONWELL_TIMEZONE", raising=False)
    with pytest.raises(UnknownTimezoneError) as caught:
        Cronwell(database_url, "Asia/Jerusalm")
    assert str(caught.value).startswith("Cronwell(timezone=...): Unknown time zone")
    assert "'Asia/Jerusalem'" in str(caught.value)
    assert "CRONWELL_TIMEZONE" not in str(caught.value)

    monkeypatch.setenv("CRONWELL_TIMEZONE", "Asia/Jerusalm")
    with pytest.raises(UnknownTimezoneError) as caught:
        Cronwell(database_url)
    assert str(caught.value).startswith("CRONWELL_TIMEZONE: Unknown time zone")
    # the argument wins over the variable, and the variable is then not checked
    assert Cronwell(database_url, pytz.timezone("Europe/Paris")).timezone == "Europe/Paris"
