"""Zones given as objects (ZoneInfo, pytz, dateutil) are read back to their IANA names;
zones without one are refused with a sentence saying what to pass instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytz
from dateutil import tz as dateutil_tz

from cronwell import Task, cron
from cronwell.domain.timezones import zone_key
from cronwell.errors import InvalidInputError, UnknownTimezoneError, UnnamedTimezoneError


@pytest.mark.parametrize(
    "value",
    [
        "Asia/Jerusalem",
        "asia/jerusalem",
        ZoneInfo("Asia/Jerusalem"),
        pytz.timezone("Asia/Jerusalem"),
        dateutil_tz.gettz("Asia/Jerusalem"),
    ],
    ids=["name", "lower-case", "zoneinfo", "pytz", "dateutil"],
)
def test_zone_objects_with_an_iana_name_are_read_back(value: object) -> None:
    assert zone_key(value) == "Asia/Jerusalem"


@pytest.mark.parametrize(
    "value",
    [UTC, timezone(timedelta(0)), pytz.utc, dateutil_tz.UTC, ZoneInfo("UTC")],
    ids=["datetime", "zero-offset", "pytz", "dateutil", "zoneinfo"],
)
def test_utc_objects_are_utc(value: object) -> None:
    assert zone_key(value) == "UTC"


@pytest.mark.parametrize(
    ("value", "etc"),
    [
        (timezone(timedelta(hours=2)), "'Etc/GMT-2'"),
        (pytz.FixedOffset(-300), "'Etc/GMT+5'"),
        (dateutil_tz.tzoffset(None, 3 * 3600), "'Etc/GMT-3'"),
    ],
    ids=["datetime", "pytz", "dateutil"],
)
def test_a_fixed_offset_says_what_to_pass_instead(value: object, etc: str) -> None:
    with pytest.raises(UnnamedTimezoneError) as caught:
        zone_key(value, where="timezone")
    message = str(caught.value)
    assert message.startswith("timezone: ")
    assert "fixed offset" in message
    assert "'Europe/Paris'" in message
    assert etc in message


def test_a_zone_without_a_name_and_a_half_hour_offset() -> None:
    with pytest.raises(UnnamedTimezoneError) as caught:
        zone_key(timezone(timedelta(hours=5, minutes=30)))
    assert "UTC+05:30" in str(caught.value)
    assert "Etc/GMT" not in str(caught.value)  # no whole-hour name exists for it


def test_a_dateutil_zone_read_from_a_file_of_its_own_has_no_name(tmp_path: Path) -> None:
    copy = tmp_path / "my-zone"
    copy.write_bytes(resources.files("tzdata.zoneinfo").joinpath("Asia/Jerusalem").read_bytes())
    with pytest.raises(UnnamedTimezoneError, match="has no IANA name"):
        zone_key(dateutil_tz.tzfile(str(copy)))


def test_an_unknown_name_is_named_where_it_came_from() -> None:
    with pytest.raises(UnknownTimezoneError) as caught:
        zone_key("Asia/Jerusalm", where="Cronwell(timezone=...)")
    assert str(caught.value).startswith("Cronwell(timezone=...): Unknown time zone")
    assert "'Asia/Jerusalem'" in str(caught.value)


def test_something_that_is_no_zone_at_all() -> None:
    with pytest.raises(InvalidInputError, match="not int 3"):
        zone_key(3)


def test_a_task_takes_a_zone_object_and_stores_its_name() -> None:
    task = Task.model_validate(
        {
            "id": "t",
            "schedule": cron("0 8 * * *"),
            "action": {"kind": "shell", "command": "true"},
            "timezone": pytz.timezone("Asia/Jerusalem"),
        }
    )
    assert task.timezone == "Asia/Jerusalem"
    assert task.definition()["timezone"] == "Asia/Jerusalem"
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert task.next_fire_after(after) == datetime(2026, 1, 1, 6, tzinfo=UTC)


def test_a_preview_takes_a_zone_object() -> None:
    preview = cron("0 8 * * *").preview(1, datetime(2026, 1, 1, tzinfo=UTC), ZoneInfo("Asia/Tokyo"))
    assert preview.timezone == "Asia/Tokyo"
    assert preview.times[0].hour == 8
