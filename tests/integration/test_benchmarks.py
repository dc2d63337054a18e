"""The benchmarks' cronwell sides, at a few tasks each: they use the library as a user
would, so a change of its API that they trip over shows here rather than in the middle
of ``make bench``. The figures are checked for completeness only, never for speed."""

from __future__ import annotations

from benchmarks import apply, burst, catchup, celery_scenario, propagation, steady
from tests.conftest import service_unavailable


def test_the_burst_records_every_fire(database_url: str) -> None:
    figures = burst.cronwell(20, database_url)
    assert figures["fires"] == 20
    assert figures["statuses"] == {"succeeded": 20}


def test_the_steady_scenario_records_every_fire(database_url: str) -> None:
    figures = steady.cronwell(5, 2, database_url)
    assert figures["expected"] == figures["ran"] == 10


def test_the_catch_up_records_what_was_missed_and_runs_the_latest(database_url: str) -> None:
    figures = catchup.cronwell(10, database_url, 3)
    assert figures["catchup_runs"] == 10
    assert figures["statuses"] == {"catchup_succeeded": 10}
    # two or three occurrences before the latest, a task: the outage counts from a second
    # before the tasks' last change
    assert figures["missed_rows"] in (20, 30)


def test_the_propagation_scenario_times_every_edit(database_url: str) -> None:
    figures = propagation.cronwell(5, database_url)
    assert figures["edits"] == figures["picked_up"] == 5
    assert figures["by"] == (
        "LISTEN/NOTIFY" if "postgresql" in database_url else "polling every 1 s"
    )


def test_the_apply_scenario_creates_changes_one_in_a_hundred_then_nothing(
    database_url: str,
) -> None:
    figures = apply.cronwell(300, database_url)
    assert (figures["created"], figures["updated"], figures["noop_unchanged"]) == (300, 3, 300)


def test_the_celery_scenario_runs_every_run_on_a_worker_and_beat_too(
    postgres_database: str,
) -> None:
    broker = celery_scenario.BROKERS["rabbitmq"]
    if not celery_scenario.broker_available(broker):
        service_unavailable(f"RabbitMQ unreachable at {broker}")
    figures = celery_scenario.burst(10, postgres_database, broker, 1)
    assert figures["cronwell"]["statuses"] == {"succeeded": 10}
    assert figures["cronwell"]["fires_per_s"] is not None  # every message was sent
    assert figures["celery-beat"]["ran"] == 10
