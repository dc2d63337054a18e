"""Crontab semantics (DESIGN rule 3) and the DST policy (rule 4), pure and clock-free."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cronwell.domain.cron import CronExpression
from cronwell.domain.schedule import cron
from cronwell.errors import InvalidCronExpressionError

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
JERUSALEM = ZoneInfo("Asia/Jerusalem")
# Monday 2026-11-23 00:00 in Jerusalem
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=JERUSALEM)


def local_times(expr: str, tz: ZoneInfo, after: datetime, n: int) -> list[datetime]:
    it = CronExpression.parse(expr).iter_after(after, tz)
    return [next(it).astimezone(tz) for _ in range(n)]


def test_weekdays_1_to_5_are_monday_to_friday() -> None:
    times = local_times("0 8 * * 1-5", JERUSALEM, MONDAY, 10)
    assert [t.strftime("%a %H:%M") for t in times[:5]] == [
        "Mon 08:00",
        "Tue 08:00",
        "Wed 08:00",
        "Thu 08:00",
        "Fri 08:00",
    ]
    assert times[5].strftime("%a %d") == "Mon 30"


def test_apscheduler_from_crontab_disagrees_and_we_do_not_use_it() -> None:
    """The reason DESIGN rule 3 exists: APScheduler 3 reads 1-5 as Tuesday to Saturday."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab("0 8 * * 1-5", timezone=JERUSALEM)
    first = trigger.get_next_fire_time(None, MONDAY)
    assert first.strftime("%a") == "Tue"
    assert local_times("0 8 * * 1-5", JERUSALEM, MONDAY, 1)[0].strftime("%a") == "Mon"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("30 14 * * *", ["Mon 23 14:30", "Tue 24 14:30"]),
        ("0 9 * * 0", ["Sun 29 09:00", "Sun 06 09:00"]),
        ("0 9 * * 7", ["Sun 29 09:00", "Sun 06 09:00"]),
        ("0 9 * * SUN", ["Sun 29 09:00", "Sun 06 09:00"]),
        ("0 12 1 * *", ["Tue 01 12:00", "Fri 01 12:00"]),
        ("0 0 1 1 *", ["Fri 01 00:00", "Sat 01 00:00"]),
        ("@daily", ["Tue 24 00:00", "Wed 25 00:00"]),
        ("@weekly", ["Sun 29 00:00", "Sun 06 00:00"]),
        ("@monthly", ["Tue 01 00:00", "Fri 01 00:00"]),
        ("0 23 L * *", ["Mon 30 23:00", "Thu 31 23:00"]),
        ("0 18 LW * *", ["Mon 30 18:00", "Thu 31 18:00"]),
        ("0 10 * * 5L", ["Fri 27 10:00", "Fri 25 10:00"]),
        ("0 10 * * 1#2", ["Mon 14 10:00", "Mon 11 10:00"]),
        ("*/20 9 * * mon", ["Mon 23 09:00", "Mon 23 09:20"]),
        ("15 10 * jan-mar mon-fri", ["Fri 01 10:15", "Mon 04 10:15"]),
    ],
)
def test_crontab_features(expr: str, expected: list[str]) -> None:
    times = local_times(expr, JERUSALEM, MONDAY, len(expected))
    assert [t.strftime("%a %d %H:%M") for t in times] == expected


def test_day_fields_or_when_both_restricted() -> None:
    # Debian cron: the 13th OR any Friday, not Friday the 13th only.
    times = local_times("0 0 13 * 5", JERUSALEM, MONDAY, 4)
    assert [t.strftime("%a %d") for t in times] == ["Fri 27", "Fri 04", "Fri 11", "Sun 13"]


def test_day_fields_and_when_one_starts_with_star() -> None:
    times = local_times("0 0 */1 * 5", JERUSALEM, MONDAY, 2)
    assert [t.strftime("%a %d") for t in times] == ["Fri 27", "Fri 04"]


def test_six_fields_have_seconds_first() -> None:
    after = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    times = local_times("*/15 * * * * *", ZoneInfo("UTC"), after, 3)
    assert [t.strftime("%H:%M:%S") for t in times] == ["12:00:15", "12:00:30", "12:00:45"]


@pytest.mark.parametrize(
    ("expr", "field", "value"),
    [
        ("61 8 * * *", "minute", "61"),
        ("0 24 * * *", "hour", "24"),
        ("0 8 32 * *", "day-of-month", "32"),
        ("0 8 * 13 *", "month", "13"),
        ("0 8 * * 8", "day-of-week", "8"),
        ("0 8 * * fry", "day-of-week", "fry"),
        ("0 8 * * 1-", "day-of-week", "1-"),
        ("0 8 * * 5-1", "day-of-week", "5-1"),
        ("*/0 8 * * *", "minute", "*/0"),
        ("60 0 8 * * *", "second", "60"),
    ],
)
def test_bad_field_names_field_and_value(expr: str, field: str, value: str) -> None:
    with pytest.raises(InvalidCronExpressionError) as info:
        CronExpression.parse(expr)
    assert info.value.field == field
    assert f"{field} field '{value}'" in str(info.value)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "must not be empty"),
        ("0 8 * *", "has 4 fields"),
        ("0 8 * * * * *", "has 7 fields"),
        ("@reboot", "not a schedule"),
        ("@fortnightly", "Unknown cron macro"),
        ("0 0 30 2 *", "can never fire"),
    ],
)
def test_bad_expression_sentences(expr: str, fragment: str) -> None:
    with pytest.raises(InvalidCronExpressionError, match=fragment):
        CronExpression.parse(expr)


def test_spring_forward_skipped_time_runs_at_first_instant_after_jump() -> None:
    # Paris jumps from 02:00 to 03:00 on 2026-03-29.
    preview = cron("30 2 * * *").preview(3, datetime(2026, 3, 28, 12, tzinfo=UTC), "Europe/Paris")
    assert [t.isoformat() for t in preview.times] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert preview.dst_adjusted == [0]


def test_fall_back_repeated_time_runs_once() -> None:
    # New York repeats 01:00-02:00 on 2026-11-01.
    after = datetime(2026, 10, 31, 12, tzinfo=UTC)
    preview = cron("30 1 * * *").preview(3, after, "America/New_York")
    assert [t.isoformat() for t in preview.times] == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]
    assert preview.dst_adjusted == []


def test_frequent_schedules_follow_real_time_across_fall_back() -> None:
    after = datetime(2026, 11, 1, 4, 50, tzinfo=UTC)  # 00:50 EDT
    times = local_times("*/30 * * * *", NEW_YORK, after, 5)
    utc = [t.astimezone(UTC).strftime("%H:%M") for t in times]
    # every 30 real minutes, through both 01:xx hours
    assert utc == ["05:00", "05:30", "06:00", "06:30", "07:00"]
    assert [t.strftime("%H:%M%z") for t in times] == [
        "01:00-0400",
        "01:30-0400",
        "01:00-0500",
        "01:30-0500",
        "02:00-0500",
    ]


def test_describe_in_words() -> None:
    assert CronExpression.parse("0 8 * * 1-5").describe() == "At 08:00 on Monday through Friday"
    assert "08:00" in CronExpression.parse("@daily").describe() or CronExpression.parse(
        "@daily"
    ).describe().startswith("At 00:00")


def test_preview_json_shape() -> None:
    data = cron("0 8 * * 1-5").preview(2, MONDAY, "Asia/Jerusalem").as_json()
    assert data == {
        "expression": "0 8 * * 1-5",
        "description": "At 08:00 on Monday through Friday",
        "timezone": "Asia/Jerusalem",
        "times": ["2026-11-23T08:00:00+02:00", "2026-11-24T08:00:00+02:00"],
        "dst_adjusted": [],
    }


def test_next_after_is_strictly_later_inside_a_repeated_hour() -> None:
    # 01:10 UTC on 2025-10-26 is 02:10 CET, the second pass through 02:xx in Paris;
    # 02:30 already fired at 00:30 UTC (CEST), so the next is the following night.
    nxt = CronExpression.parse("30 2 * * *").next_after(
        datetime(2025, 10, 26, 1, 10, tzinfo=UTC), PARIS
    )
    assert nxt == datetime(2025, 10, 27, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("expr", ["30 2 * * *", "15,45 2 * * *", "30 1-3 * * *"])
def test_times_strictly_increase_through_fall_back(expr: str) -> None:
    it = CronExpression.parse(expr).iter_after(datetime(2025, 10, 25, 12, tzinfo=UTC), PARIS)
    times = [next(it) for _ in range(8)]
    assert times == sorted(set(times))


def test_fixed_time_with_seconds_follows_the_fixed_time_dst_policy() -> None:
    spring = cron("15 30 2 * * *").preview(2, datetime(2026, 3, 28, 12, tzinfo=UTC), "Europe/Paris")
    assert [t.isoformat() for t in spring.times] == [
        "2026-03-29T03:00:15+02:00",
        "2026-03-30T02:30:15+02:00",
    ]
    assert spring.dst_adjusted == [0]
    autumn = cron("15 30 2 * * *").preview(
        2, datetime(2025, 10, 25, 12, tzinfo=UTC), "Europe/Paris"
    )
    assert [t.isoformat() for t in autumn.times] == [
        "2025-10-26T02:30:15+02:00",
        "2025-10-27T02:30:15+01:00",
    ]


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (10, "10th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (24, "24th"),
        (31, "31st"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
        (113, "113th"),
        (121, "121st"),
    ],
)
def test_ordinals(n: int, text: str) -> None:
    from cronwell.domain.cron import ordinal

    assert ordinal(n) == text


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("*/21 * * * *", "Every 21st minute of every hour"),
        ("*/22 * * * *", "Every 22nd minute of every hour"),
        ("*/23 * * * *", "Every 23rd minute of every hour"),
        ("*/31 * * * *", "Every 31st minute of every hour"),
        ("*/11 * * * *", "Every 11th minute of every hour"),
        ("*/12 * * * *", "Every 12th minute of every hour"),
        ("*/13 * * * *", "Every 13th minute of every hour"),
        ("0 */21 * * *", "At minute 0 past every 21st hour"),
        ("0 0 21 * *", "At 00:00 on the 21st day of every month"),
        ("0 0 22 * *", "At 00:00 on the 22nd day of every month"),
        ("0 0 23 * *", "At 00:00 on the 23rd day of every month"),
        ("0 0 31 * *", "At 00:00 on the 31st day of every month"),
        ("0 0 1/11 * *", "At 00:00 on every 11th day of month"),
        ("*/2 * * * *", "Every second minute of every hour"),
        ("0 0 * * 1#2", "At 00:00 on the second Monday of the month"),
    ],
)
def test_descriptions_spell_ordinals_right(expression: str, words: str) -> None:
    assert CronExpression.parse(expression).describe() == words
