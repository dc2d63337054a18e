"""Run policies as pure functions (DESIGN rules 5 and 6): retry backoff, whether to retry,
and what a scheduler that was down does about the occurrences it missed."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from cronwell.domain.run import RunStatus

Overlap = Literal["allow", "skip", "queue_one", "replace"]
RETRYABLE = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABANDONED})
FAILURES = RETRYABLE
Catchup = Literal["none", "latest", "all"]
# where a task's runs execute (DESIGN rule 13): this process's worker pool, or Celery workers
Executor = Literal["local", "celery"]


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    jitter: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after attempt ``attempt`` failed, before attempt ``attempt + 1``::

        delay = min(cap, base * 2 ** (attempt - 1) * (1 + jitter * u)),  u uniform in [-1, 1)

    With ``base`` 5 minutes and no jitter: 5, 10, 20 minutes… never more than ``cap``.
    ``jitter`` (0 to 1) spreads retries of many tasks that failed together.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    spread = 1 + jitter * (2 * rand() - 1)
    return max(0.0, min(cap, base * 2.0 ** (attempt - 1) * spread))


def should_retry(
    status: RunStatus,
    attempt: int,
    retries: int,
    retry_on: Sequence[str],
    exception_type: str | None,
) -> bool:
    """Whether attempt ``attempt`` that ended ``status`` gets another try. Failures, timeouts
    and runs abandoned by a dead process are retried, at most ``retries`` times; with
    ``retry_on`` set, a failure is retried only when its exception type is one of them (by
    simple or qualified name). Timeouts and abandoned runs are always retryable."""
    if attempt > retries or status not in RETRYABLE:
        return False
    if status is not RunStatus.FAILED or not retry_on:
        return True
    if exception_type is None:
        return False
    simple = exception_type.rsplit(".", 1)[-1]
    return exception_type in retry_on or simple in retry_on


@dataclass(frozen=True)
class CatchupPlan:
    """What to do about occurrences missed while no scheduler ran: ``run`` them now, or
    record them ``missed``."""

    run: list[datetime] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)


def plan_catchup(
    missed: Sequence[datetime],
    policy: Catchup,
    now: datetime,
    window: float | None = None,
) -> CatchupPlan:
    """Split missed occurrences into those to run now and those to record ``missed``.

    * ``none``: nothing runs.
    * ``latest``: the most recent one runs (once, like systemd's ``Persistent=``).
    * ``all``: every one within ``window`` seconds before ``now`` runs (all without a
      window), oldest first.
    """
    ordered = sorted(missed)
    run: list[datetime] = []
    if policy == "latest" and ordered:
        run = [ordered[-1]]
    elif policy == "all":
        floor = now - timedelta(seconds=window) if window is not None else None
        run = [t for t in ordered if floor is None or t >= floor]
    chosen = set(run)
    return CatchupPlan(run=run, missed=[t for t in ordered if t not in chosen])


@dataclass(frozen=True)
class OutagePlan:
    """What to do about a task's occurrences that fell due while the database could not be
    reached: run ``late`` as the fire it was (``None``: none), ``run`` the others now as
    catch-up runs, record the rest ``missed``."""

    late: datetime | None = None
    run: list[datetime] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)


def plan_outage(
    held: Sequence[datetime],
    policy: Catchup,
    now: datetime,
    misfire_grace: float,
    window: float | None = None,
) -> OutagePlan:
    """Split the occurrences of one task that fell due while its run rows could not be
    written (``held``), once the database answers again at ``now``.

    * One occurrence still within ``misfire_grace`` of ``now`` is only late: it runs as
      the fire it was, and follows the overlap policy against runs really going.
    * Otherwise they are missed occurrences and follow :func:`plan_catchup`: those it
      runs are catch-up runs (which never wait for one another), the rest are recorded
      ``missed``. No occurrence of an outage is ever skipped for overlapping another one
      that could not be recorded either.
    """
    ordered = sorted(held)
    if len(ordered) == 1 and (now - ordered[0]).total_seconds() <= misfire_grace:
        return OutagePlan(late=ordered[0])
    plan = plan_catchup(ordered, policy, now, window)
    return OutagePlan(run=plan.run, missed=plan.missed)
