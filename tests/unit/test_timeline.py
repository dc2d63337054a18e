"""The occurrence timeline of a day: every occurrence with its fate, from the schedule,
the run rows and the task's pause, at a frozen "now"."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.service.timeline import Fate, build_timeline, day_bounds

PARIS = ZoneInfo("Europe/Paris")
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def task(cron: str = "0 8,12,16,20 * * *", **state: object) -> Task:
    return Task.model_validate(
        {
            "id": "report",
            "schedule": {"kind": "cron", "cron": cron},
            "action": {"kind": "shell", "command": "true"},
            "timezone": "Europe/Paris",
            "created_at": CREATED,
            "updated_at": CREATED,
            **state,
        }
    )


def run(run_id: int, at: datetime, status: RunStatus, attempt: int = 1, **fields: object) -> Run:
    return Run(
        id=run_id,
        task_id="report",
        scheduled_for=at.astimezone(UTC),
        attempt=attempt,
        status=status,
        **fields,  # type: ignore[arg-type]
    )


def paris(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=PARIS)


def test_each_occurrence_gets_its_fate_from_its_rows() -> None:
    now = paris(10, 17)
    rows = [
        run(1, paris(10, 8), RunStatus.FAILED, error="ValueError: no input\nmore"),
        run(2, paris(10, 12), RunStatus.FAILED, error="boom"),
        run(3, paris(10, 12), RunStatus.SUCCEEDED, attempt=2, reason=RunReason.RETRY),
        run(
            4,
            paris(10, 16),
            RunStatus.MISSED,
            reason=RunReason.SCHEDULER_DOWN,
            error="Not run: no scheduler was running.",
        ),
    ]
    timeline = build_timeline(task(), date(2026, 3, 10), PARIS, "Europe/Paris", rows, now)
    fates = [(e.at.astimezone(PARIS).hour, e.fate) for e in timeline.entries]
    assert fates == [(8, Fate.FAILED), (12, Fate.RETRIED), (16, Fate.MISSED), (20, Fate.UPCOMING)]
    failed, retried, missed, upcoming = timeline.entries
    assert failed.why == "failed: ValueError: no input"
    assert [r.id for r in retried.runs] == [2, 3] and "attempt 2" in retried.why
    assert missed.why == "missed: no scheduler was running at that time"
    assert upcoming.why == "still to come" and upcoming.runs == []


def test_occurrences_without_rows_while_paused_are_explained() -> None:
    paused_at = paris(10, 10).astimezone(UTC)
    now = paris(10, 17)
    rows = [run(1, paris(10, 8), RunStatus.SUCCEEDED)]
    paused = task(enabled=False, updated_at=paused_at)
    timeline = build_timeline(paused, date(2026, 3, 10), PARIS, "Europe/Paris", rows, now)
    fates = [e.fate for e in timeline.entries]
    assert fates == [Fate.SUCCEEDED, Fate.PAUSED, Fate.PAUSED, Fate.PAUSED]
    assert "paused" in timeline.entries[1].why and "2026-03-10 09:00:00 UTC" in (
        timeline.entries[1].why
    )
    assert "will not run unless resumed" in timeline.entries[3].why
    auto = task(enabled=False, updated_at=paused_at, paused_reason="5 failures in a row")
    why = build_timeline(auto, date(2026, 3, 10), PARIS, "Europe/Paris", [], now).entries[1].why
    assert "automatically paused: 5 failures in a row" in why


def test_a_past_pause_shows_through_the_skipped_rows_its_resume_wrote() -> None:
    now = paris(11, 9)
    rows = [
        run(
            1,
            paris(10, 8),
            RunStatus.SKIPPED,
            reason=RunReason.PAUSED,
            error="Not run: the task was paused.",
        )
    ]
    timeline = build_timeline(task(), date(2026, 3, 10), PARIS, "Europe/Paris", rows, now)
    first = timeline.entries[0]
    assert first.fate is Fate.SKIPPED and first.why == "skipped: the task was paused"
    # the day's other occurrences have no row and no pause to explain them
    assert {e.fate for e in timeline.entries[1:]} == {Fate.NO_RECORD}
    assert "pruned" in timeline.entries[1].why


def test_before_creation_manual_runs_and_dst() -> None:
    created = paris(29, 11).astimezone(UTC)  # spring forward: 02:00 becomes 03:00
    nightly = task("30 2,12 * * *", created_at=created)
    manual = paris(29, 13, 3) + timedelta(minutes=7)
    rows = [run(9, manual, RunStatus.SUCCEEDED, reason=RunReason.MANUAL)]
    now = paris(29, 14)
    timeline = build_timeline(nightly, date(2026, 3, 29), PARIS, "Europe/Paris", rows, now)
    shifted, noon, by_hand = timeline.entries
    assert shifted.at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, moved
    assert shifted.dst_shifted and shifted.fate is Fate.NOT_CREATED
    assert noon.fate is Fate.NO_RECORD and not noon.dst_shifted
    assert by_hand.occurrence is False and "run on request" in by_hand.why


def test_day_bounds_follow_the_zone() -> None:
    start, end = day_bounds(date(2026, 3, 29), PARIS)
    assert start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert end - start == timedelta(hours=23)  # the spring-forward day is 23 hours long
