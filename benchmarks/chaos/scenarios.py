"""The leadership scenarios: two ``cronwell serve`` instances on a fresh PostgreSQL
database, every-second load, and the leader ``kill -9``'d (:func:`kill_leader`) or frozen
with SIGSTOP past its lease (:func:`freeze_leader`)."""

from __future__ import annotations

import random
import time

from benchmarks.chaos import db
from benchmarks.chaos.checks import Fault, zombie_fires
from benchmarks.chaos.cluster import Service
from benchmarks.chaos.report import Outcome
from benchmarks.chaos.stage import Options, Stage, load_tasks, require, sleep_until, staged

LEADER_TIMEOUT_S = 30.0


def _pair(stage: Stage) -> None:
    """Start ``a``, wait until it leads, then ``b`` as its standby."""
    first, second = stage.service("a"), stage.service("b")
    first.start()
    require(stage.wait_leader(LEADER_TIMEOUT_S), "no leader after the first start", stage)
    second.start()


def _other_leader(stage: Stage, not_this: Service, timeout: float) -> Service | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = stage.leader()
        if found is not None and found is not not_this:
            return found
        time.sleep(0.1)
    return None


def kill_leader(options: Options, duration: float, kill_every: float, tasks: int) -> Outcome:
    """``kill -9`` of the leader every ``kill_every`` seconds (at a random point of a
    second) for ``duration`` seconds; the killed service starts again as the standby."""
    with db.fresh_database(options.admin_url) as url, staged(options, "kill", url) as stage:
        stage.write_tasks(load_tasks(tasks, stage.ledger))
        _pair(stage)
        begin = time.time()
        end = begin + duration
        due = begin + kill_every
        while due <= end:
            sleep_until(due + random.uniform(-0.5, 0.5))
            leader = require(
                stage.wait_leader(options.lease_ttl + LEADER_TIMEOUT_S), "no leader to kill", stage
            )
            instance = leader.instance_id
            stage.faults.append(Fault("kill", leader.kill(), instance))
            options.say(f"  kill: killed leader {instance} ({len(stage.faults)})")
            leader.start()
            due += kill_every
        sleep_until(end)
        # a successor leads and has recorded the gap of the last kill before the end
        require(stage.wait_leader(options.lease_ttl + LEADER_TIMEOUT_S), "no successor", stage)
        time.sleep(2.0)
        span = (begin + 1.0, time.time() - 1.0)
        figures = stage.figures(span, stage.stop_all())
    summary = f"{len(stage.faults)} kill -9 of the leader, {tasks} every-second tasks"
    return Outcome("kill", figures, summary)


def freeze_leader(options: Options, duration: float, tasks: int) -> Outcome:
    """SIGSTOP of the leader for its lease TTL + 2 s, then SIGCONT, as often as fits in
    ``duration`` (at least once): the standby must take over once the lease lapses, and the
    frozen one must fire nothing after it resumes."""
    ttl = options.lease_ttl
    hold = ttl + 2.0
    settle = 3.0
    with db.fresh_database(options.admin_url) as url, staged(options, "stop", url) as stage:
        stage.write_tasks(load_tasks(tasks, stage.ledger))
        _pair(stage)
        begin = time.time()
        end = begin + duration
        while not stage.faults or time.time() + hold + 2 * settle <= end:
            time.sleep(settle)
            leader = require(
                stage.wait_leader(ttl + LEADER_TIMEOUT_S), "no leader to freeze", stage
            )
            instance = leader.instance_id
            frozen_at = leader.freeze()
            successor = _other_leader(stage, leader, 2 * ttl + LEADER_TIMEOUT_S)
            sleep_until(frozen_at + hold)
            stage.faults.append(Fault("stop", frozen_at, instance, until=leader.thaw()))
            options.say(
                f"  stop: froze leader {instance} for {time.time() - frozen_at:.1f} s; "
                f"{successor.instance_id if successor else 'nobody'} took over"
            )
        time.sleep(settle)
        span = (begin + 1.0, time.time() - 1.0)
        figures = stage.figures(span, stage.stop_all())
        zombies = zombie_fires(stage.faults, stage.executions(), span[1])
    figures["zombie_fires"] = len(zombies)
    if zombies:
        figures["zombie_sample"] = [f"{e.key} by {e.instance}" for e in zombies[:5]]
    summary = (
        f"{len(stage.faults)} SIGSTOP of the leader for TTL + 2 s, "
        f"{len(zombies)} fire(s) by it after SIGCONT"
    )
    return Outcome("stop", figures, summary)
