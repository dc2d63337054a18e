"""The fault scenarios around one service: the database going away
(:func:`database_outage`, on a private PostgreSQL cluster the harness starts and stops) and
``kill -9`` of the service while a shell command and a child-process function run
(:func:`kill_during_runs`), where a child that outlives its service shows in the ledger as
two attempts of one occurrence running at once."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator

import httpx
import psycopg

from benchmarks.chaos import db
from benchmarks.chaos.checks import (
    Fault,
    epoch,
    expected_occurrences,
    misdated_starts,
    outcomes,
)
from benchmarks.chaos.cluster import PrivateCluster, Service
from benchmarks.chaos.ledger import Execution
from benchmarks.chaos.report import Outcome
from benchmarks.chaos.stage import (
    PREFIX,
    Options,
    Stage,
    is_action_process,
    load_tasks,
    long_tasks,
    require,
    sleep_until,
    slow_tasks,
    staged,
)

LEADER_TIMEOUT_S = 30.0


@contextlib.contextmanager
def private_database() -> Iterator[tuple[PrivateCluster, str]]:
    """A private cluster with an empty database ``chaos``; removed afterwards."""
    cluster = PrivateCluster()
    try:
        cluster.create()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE chaos")
        yield cluster, cluster.url("chaos")
    finally:
        cluster.destroy()


def _lines(service: Service) -> int:
    err = service.config.folder / f"{service.name}.err"
    return len(err.read_bytes().splitlines()) if err.exists() else 0


def _readiness(service: Service) -> int | None:
    """The status of ``/readyz`` now, or ``None`` when the API does not answer."""
    try:
        return httpx.get(f"{service.api_url}/readyz", timeout=10).status_code
    except httpx.HTTPError:
        return None


def _slow_in_flight(stage: Stage) -> bool:
    return any(e.end is None and "-slow-" in e.key for e in stage.executions())


def database_outage(options: Options, outage: float, tasks: int) -> Outcome:
    """One service with every-second tasks (and two whose action takes 1.5 s, one of them
    running when the database goes) on a private cluster, stopped (``pg_ctl stop -m
    immediate``) for ``outage`` seconds and started again. Every occurrence that fell due
    meanwhile must be recorded, none as ``skipped`` (no run could overlap it), no run may
    claim to have started before its action did, and a run that finished during the outage
    must be recorded as it ended."""
    settle = max(6.0, options.lease_ttl + 2.0)
    with private_database() as (cluster, url), staged(options, "outage", url) as stage:
        stage.write_tasks(load_tasks(tasks, stage.ledger) + slow_tasks(2, stage.ledger, 1.5, 2.0))
        service = stage.service("a")
        service.start()
        require(stage.wait_leader(LEADER_TIMEOUT_S), "no leader", stage)
        begin = time.time()
        time.sleep(3.0)
        # the database goes while a slow action runs: its result cannot be stored at once
        deadline = time.monotonic() + 10.0
        while not _slow_in_flight(stage) and time.monotonic() < deadline:
            time.sleep(0.05)
        lines_before = _lines(service)
        down = time.time()
        cluster.stop("immediate")
        sleep_until(down + outage / 2)
        readiness = _readiness(service)
        sleep_until(down + outage)
        cluster.start()
        up = time.time()
        log_lines = _lines(service) - lines_before
        stage.faults.append(Fault("outage", down, until=up))
        options.say(f"  outage: database down {up - down:.1f} s")
        back = stage.wait_leader(3 * options.lease_ttl + LEADER_TIMEOUT_S)
        leading_again = time.time() - up if back is not None else None
        time.sleep(settle)
        survived = service.alive
        span = (begin + 1.0, time.time() - 1.0)
        figures = stage.figures(span, stage.stop_all())
        rows = db.run_rows(url, PREFIX)
        executions = stage.executions()
        during = [r for r in rows if down < epoch(r.scheduled_for) <= up]
        due = expected_occurrences(db.tasks(url, PREFIX), down, up)
    misdated = misdated_starts(executions, rows)
    firsts = [e.start - up for e in executions if e.start > up]
    figures.update(
        {
            "outage_s": round(up - down, 1),
            "outage_occurrences": len(due),
            "outage_outcomes": outcomes(during),
            "misdated": len(misdated),
            "readyz_during": readiness,
            "service_deaths": 0 if survived else 1,
            "leading_again_s": None if leading_again is None else round(leading_again, 2),
            "first_fire_after_s": round(min(firsts), 2) if firsts else None,
            "log_lines_during": log_lines,
        }
    )
    if misdated:
        figures["misdated_sample"] = misdated[:5]
    shown = ", ".join(f"{k} {v}" for k, v in figures["outage_outcomes"].items())  # type: ignore[attr-defined]
    summary = f"database down {up - down:.0f} s, {len(due)} occurrences due: {shown or 'none'}"
    return Outcome("outage", figures, summary)


def _in_flight(stage: Stage, service: Service) -> dict[str, Execution]:
    """The long tasks' executions the current instance of ``service`` is running, by task."""
    running = {}
    for e in stage.executions():
        if e.instance == service.instance_id and e.end is None and is_action_process(e.pid):
            running[e.task_id] = e
    return running


def _retried(stage: Stage, hit: list[tuple[str, int]]) -> bool:
    """Whether every attempt cut by a kill has a later attempt that finished."""
    ended = [(e.key, e.attempt) for e in stage.executions() if e.end is not None]
    return all(any(k == key and a > attempt for k, a in ended) for key, attempt in hit)


def kill_during_runs(options: Options, kills: int, seconds: float, every: float) -> Outcome:
    """``kill -9`` of the service ``kills`` times, each at a random moment early in a run
    of both a shell command and a child-process function that take ``seconds``; it starts
    again at once, and the abandoned attempts are retried. No two attempts of one occurrence
    may overlap in the ledger."""
    with db.fresh_database(options.admin_url) as url, staged(options, "orphans", url) as stage:
        stage.write_tasks(long_tasks(stage.ledger, seconds, every, retries=kills + 2))
        service = stage.service("a")
        service.start()
        require(stage.wait_leader(LEADER_TIMEOUT_S), "no leader", stage)
        begin = time.time()
        survivors = 0
        hit: list[tuple[str, int]] = []
        for _ in range(kills):
            deadline = time.monotonic() + 2 * every + seconds + LEADER_TIMEOUT_S
            running: dict[str, Execution] = {}
            while len(running) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                running = _in_flight(stage, service)
            require(len(running) == 2, "no shell and child-process runs at once", stage)
            time.sleep(random.uniform(0.2, min(2.0, seconds / 4)))
            instance = service.instance_id
            hit += [(e.key, e.attempt) for e in running.values()]
            stage.faults.append(Fault("crash", service.kill(), instance))
            service.start()
            alive = set(stage.look_for_survivors())
            outlived = sum(1 for e in running.values() if e.pid in alive)
            survivors += outlived
            options.say(f"  orphans: killed {instance}; {outlived} of its 2 children still run")
        deadline = time.monotonic() + 2 * seconds + LEADER_TIMEOUT_S
        while not _retried(stage, hit) and time.monotonic() < deadline:
            time.sleep(0.2)
        span = (begin + 1.0, time.time() - 1.0)
        figures = stage.figures(span, stage.stop_all())
    figures["kills"] = kills
    figures["children_alive_after_kill"] = survivors
    summary = (
        f"{kills} kill -9 during {seconds:g}-s shell and child-process runs; "
        f"{survivors} child(ren) outlived the kill"
    )
    return Outcome("orphans", figures, summary)
