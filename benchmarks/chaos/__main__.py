"""``python -m benchmarks.chaos`` (``make chaos``): real ``cronwell serve`` processes put
through faults, judged by an execution ledger the actions write and by the run history.

Scenarios, one after the other, each on a database of its own:

  kill     two instances, every-second tasks, the leader ``kill -9``'d every 20 s
  stop     two instances, the leader SIGSTOPped for longer than the lease TTL, then SIGCONT
  outage   one instance on a private PostgreSQL cluster stopped and started again
  orphans  one instance ``kill -9``'d during shell and child-process runs with retries

Prints progress on stderr, then a table and, last, one JSON line. Exits 1 when a target is
missed (0 unrecorded, 0 duplicates, 0 overlaps, failover <= lease TTL + 2 s, 0 rows left
running, and the scenario's own; see benchmarks/chaos/report.py) or a scenario could not
run, so CI can use it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.chaos import db, faults, scenarios
from benchmarks.chaos.cluster import ROOT, ChaosError
from benchmarks.chaos.report import Outcome, json_line, judge, text_table, total
from benchmarks.chaos.stage import Options
from benchmarks.common import postgres_admin_url

SCENARIOS = ("kill", "stop", "outage", "orphans")
DEFAULT_DURATION_S = 300.0
QUICK_DURATION_S = 60.0


@dataclass(frozen=True)
class Plan:
    """How long each scenario runs, from the total ``duration``."""

    kill_s: float
    kill_every: float
    load_tasks: int
    stop_s: float
    outage_s: float
    orphan_kills: int
    orphan_seconds: float
    orphan_every: float

    @classmethod
    def for_duration(cls, duration: float, kill_every: float | None = None) -> Plan:
        every = kill_every or (20.0 if duration >= 180 else 8.0)
        return cls(
            kill_s=max(every + 1.0, 0.4 * duration),
            kill_every=every,
            load_tasks=20,
            stop_s=0.15 * duration,
            outage_s=min(45.0, max(10.0, 0.15 * duration)),
            orphan_kills=max(2, round(duration / 60)),
            orphan_seconds=8.0,
            orphan_every=3.0,
        )


def run(name: str, options: Options, plan: Plan) -> Outcome:
    """One scenario; an error that kept it from completing is its outcome."""
    options.say(f"… {name}")
    begin = time.monotonic()
    try:
        if name == "kill":
            outcome = scenarios.kill_leader(options, plan.kill_s, plan.kill_every, plan.load_tasks)
        elif name == "stop":
            outcome = scenarios.freeze_leader(options, plan.stop_s, plan.load_tasks // 2)
        elif name == "outage":
            outcome = faults.database_outage(options, plan.outage_s, plan.load_tasks // 2)
        else:
            outcome = faults.kill_during_runs(
                options, plan.orphan_kills, plan.orphan_seconds, plan.orphan_every
            )
    except ChaosError as exc:
        outcome = Outcome(name, error=str(exc))
    outcome.figures["wall_s"] = round(time.monotonic() - begin, 1)
    judge(outcome, options.lease_ttl)
    options.say(f"  {name}: {'pass' if outcome.passed else '; '.join(outcome.failures)}")
    if outcome.error:
        options.say(outcome.error)
    return outcome


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help=f"about {QUICK_DURATION_S:.0f} s of faults")
    add("--duration", type=float, help=f"seconds of faults in all (default {DEFAULT_DURATION_S:g})")
    add("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="scenarios to run")
    add("--lease-ttl", type=float, default=5.0, help="CRONWELL_LEASE_TTL of the services")
    add("--poll-interval", type=float, default=1.0, help="CRONWELL_POLL_INTERVAL")
    add("--kill-every", type=float, help="seconds between leader kills (20; 8 when short)")
    add(
        "--postgres-url",
        default=postgres_admin_url(),
        help="server on which each scenario gets a fresh database (not the outage's)",
    )
    add("--keep", action="store_true", help="keep the logs and ledgers (their folder is shown)")
    return parser.parse_args(argv)


def _commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    duration = args.duration or (QUICK_DURATION_S if args.quick else DEFAULT_DURATION_S)
    plan = Plan.for_duration(duration, args.kill_every)
    problem = db.reachable(args.postgres_url)
    if problem is not None:
        print(f"PostgreSQL unreachable at {args.postgres_url}: {problem}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="cronwell-chaos-"))
    options = Options(args.postgres_url, folder, args.lease_ttl, args.poll_interval)
    try:
        outcomes = [run(name, options, plan) for name in SCENARIOS if name in args.only]
    finally:
        if args.keep:
            print(f"logs and ledgers in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    overall = total(outcomes)
    print(text_table([*outcomes, overall]))
    for failure in overall.failures:
        print(f"FAIL {failure}")
    settings = {
        "duration_s": duration,
        "lease_ttl_s": args.lease_ttl,
        "poll_interval_s": args.poll_interval,
        "commit": _commit(),
        **asdict(plan),
    }
    print(json_line(outcomes, overall, settings), flush=True)
    return 0 if overall.passed else 1


if __name__ == "__main__":
    sys.exit(main())
