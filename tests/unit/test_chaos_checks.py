"""The chaos harness's checks on made-up ledgers and rows: each finds what it must, and
only that (a harness that reports 0 overlaps when there are some proves nothing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from benchmarks.chaos.checks import (
    Fault,
    assess,
    duplicates,
    expected_occurrences,
    failover_gaps,
    false_overlaps,
    misdated_starts,
    overlaps,
    wrong_status,
    zombie_fires,
)
from benchmarks.chaos.db import RunRow
from benchmarks.chaos.ledger import Execution, executions
from benchmarks.chaos.report import Outcome, judge, total

from cronwell.domain.run import occurrence_key
from cronwell.domain.task import Task

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def key(task: str, second: int) -> str:
    return occurrence_key(task, T0 + timedelta(seconds=second))


def run(
    task: str, second: int, attempt: int = 1, status: str = "succeeded", **kw: object
) -> RunRow:
    fields: dict[str, object] = {
        "reason": "schedule",
        "started_at": T0 + timedelta(seconds=second),
        "instance_id": "a1",
        **kw,
    }
    return RunRow(task, T0 + timedelta(seconds=second), attempt, status, **fields)  # type: ignore[arg-type]


def execution(
    task: str, second: int, start: float, end: float | None, attempt: int = 1, instance: str = "a1"
) -> Execution:
    at = T0.timestamp()
    return Execution(
        key=key(task, second),
        attempt=attempt,
        instance=instance,
        pid=1,
        token=f"{task}{second}{attempt}{start}",
        start=at + start,
        end=None if end is None else at + end,
    )


def test_the_ledger_pairs_starts_with_ends_by_token_and_ignores_a_torn_line() -> None:
    line = {"key": "t@x", "attempt": 1, "instance": "a1", "pid": 7, "run_id": 1, "t": 5.0}
    lines = [
        json.dumps({**line, "event": "start", "token": "one"}),
        json.dumps({**line, "event": "start", "token": "two", "t": 6.0}),
        json.dumps({**line, "event": "end", "token": "one", "t": 9.0}),
        '{"event": "end", "tok',
    ]
    found = executions(lines)
    assert [(e.token, e.start, e.end) for e in found] == [("one", 5.0, 9.0), ("two", 6.0, None)]


def test_two_executions_of_one_attempt_are_a_duplicate_and_two_attempts_are_not() -> None:
    ledger = [
        execution("t", 1, 1.0, 1.1),
        execution("t", 1, 1.5, 1.6, instance="b1"),
        execution("t", 2, 2.0, 2.1),
        execution("t", 2, 3.0, 3.1, attempt=2),
    ]
    assert duplicates(ledger) == [f"{key('t', 1)}#1"]


def test_attempts_overlap_when_the_first_runs_past_the_start_of_the_next() -> None:
    orphaned = execution("t", 1, 1.0, 9.0)
    retry = execution("t", 1, 5.0, 13.0, attempt=2)
    killed = execution("u", 1, 1.0, None)  # died with its service: no end line
    its_retry = execution("u", 1, 5.0, 13.0, attempt=2)
    assert overlaps([orphaned, retry, killed, its_retry]) == [(orphaned, retry)]
    killed.end = killed.start + 6.0  # but its process was seen alive 6 s later
    assert len(overlaps([killed, its_retry])) == 1


def test_an_occurrence_due_in_the_span_without_a_row_is_unrecorded() -> None:
    task = Task.model_validate(
        {
            "id": "t",
            "schedule": {"kind": "interval", "seconds": 1, "anchor": T0.isoformat()},
            "action": {"kind": "shell", "command": "true"},
        }
    )
    expected = expected_occurrences([task], T0.timestamp() + 0.5, T0.timestamp() + 4.0)
    assert expected == {key("t", s) for s in (1, 2, 3, 4)}
    rows = [run("t", 1), run("t", 2, status="missed", reason="scheduler_down"), run("t", 4)]
    ledger = [execution("t", 1, 1.0, 1.1), execution("t", 3, 3.0, 3.1)]
    figures = assess(ledger, rows, [task], (T0.timestamp() + 0.5, T0.timestamp() + 4.0), [])
    assert figures["unrecorded_occurrences"] == 1  # second 3: no row at all
    assert figures["executions_without_row"] == 1  # and yet it ran
    assert figures["unrecorded"] == 2


def test_failover_runs_from_the_fault_to_the_first_start_by_another_instance() -> None:
    at = T0.timestamp()
    ledger = [
        execution("t", 1, 1.0, 1.1, instance="a1"),
        execution("t", 2, 2.2, 2.3, instance="a1"),  # the killed one, before it died
        execution("t", 3, 3.4, 3.5, instance="b1"),
    ]
    faults = [Fault("kill", at + 2.5, "a1"), Fault("kill", at + 4.0, "b1")]
    gaps = failover_gaps(faults, ledger)
    assert gaps == [pytest.approx(0.9), None]  # the second kill had no successor


def test_a_frozen_leader_firing_what_fell_due_after_it_froze_is_a_zombie() -> None:
    at = T0.timestamp()
    late_but_recorded_before = execution("t", 2, 9.0, 9.1, instance="a1")
    zombie = execution("t", 5, 9.0, 9.1, instance="a1")
    successor = execution("t", 6, 6.0, 6.1, instance="b1")
    faults = [Fault("stop", at + 2.5, "a1", until=at + 8.5)]
    found = zombie_fires(faults, [late_but_recorded_before, zombie, successor], at + 20)
    assert found == [zombie]


def test_a_finished_run_of_a_live_process_recorded_abandoned_has_the_wrong_status() -> None:
    rows = [
        run("t", 1, status="abandoned", reason="process_died", instance_id="a1"),
        run("t", 2, status="abandoned", reason="process_died", instance_id="b1"),
        run("t", 3),
    ]
    ledger = [
        execution("t", 1, 1.0, 2.5, instance="a1"),  # a1 lived: its result was lost
        execution("t", 2, 2.0, 2.1, instance="b1"),  # b1 was killed after it finished
        execution("t", 3, 3.0, 3.1, instance="a1"),
    ]
    found = wrong_status(ledger, rows, [Fault("kill", T0.timestamp() + 2.2, "b1")])
    assert found == [f"{key('t', 1)}#1 by a1 recorded abandoned/process_died"]


def test_instant_actions_recorded_skipped_and_runs_dated_before_their_start() -> None:
    rows = [
        run("chaos-load-00", 1, status="skipped", reason="overlap", started_at=None),
        run("chaos-slow-00", 1, status="skipped", reason="overlap", started_at=None),
        run("chaos-load-00", 2),
    ]
    assert false_overlaps(rows, "chaos-load-") == [f"{key('chaos-load-00', 1)} skipped/overlap"]
    ledger = [execution("chaos-load-00", 2, 12.0, 12.1)]  # ran 10 s after its started_at
    assert misdated_starts(ledger, rows) == [f"{key('chaos-load-00', 2)}#1 recorded 10.0 s early"]


def test_the_verdict_names_every_missed_target() -> None:
    figures: dict[str, object] = {
        "unrecorded": 0,
        "duplicates": 1,
        "overlaps": 0,
        "running": 2,
        "failover_missing": 0,
        "failover_max_s": 7.5,
        "failover_gaps_s": [1.0, 7.5],
    }
    outcome = Outcome("kill", figures)
    judge(outcome, lease_ttl=5.0)
    assert outcome.failures == [
        "1 duplicate execution(s)",
        "2 row(s) left running",
        "failover 7.50 s > lease TTL + 2 s (7 s)",
    ]
    clean = Outcome("stop", {"failover_gaps_s": [5.0], "failover_max_s": 5.0})
    judge(clean, lease_ttl=5.0)
    overall = total([outcome, clean])
    assert clean.passed and not overall.passed
    assert overall.figures["failover_max_s"] == 7.5
    assert overall.failures[0] == "kill: 1 duplicate execution(s)"
