"""``python -m benchmarks``: cronwell against raw APScheduler 3.11, scenario by scenario, on
SQLite and PostgreSQL. Prints a table (scenario, backend, system, figures, ratio) and, last,
one JSON line with every figure and ratio. Progress goes to stderr.

Scenarios (see each module): preview, burst, steady, scale, catchup, propagation, apply,
dashboard, celery (runs executed on Celery workers, against Celery beat; PostgreSQL and a
broker only). Every measurement runs in a fresh child process, one after the other; each
PostgreSQL measurement gets a database of its own (``cronwell_bench_<random>``, dropped
afterwards) on the server of ``--postgres-url``; each SQLite one a file in a new temporary
folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from typing import Any

from benchmarks import (
    apply,
    burst,
    catchup,
    celery_scenario,
    dashboard,
    preview,
    propagation,
    scale,
    steady,
)
from benchmarks.common import BACKENDS, POSTGRES_ADMIN_ENV, postgres_admin_url, postgres_available
from benchmarks.results import Result, compute_ratios, json_line, markdown_table, text_table

SCENARIOS = (
    "preview",
    "burst",
    "steady",
    "scale",
    "catchup",
    "propagation",
    "apply",
    "dashboard",
    "celery",
)
DEFAULTS: dict[str, Any] = {
    "preview": 2000,
    "burst": [1000, 10_000],
    "steady_tasks": 1000,
    "steady_seconds": 30,
    "scale": 100_000,
    "api": 2000,
    "catchup": 10_000,
    "catchup_downtime": 10,
    "propagation": 200,
    "apply": 100_000,
    "dashboard": 100_000,
    "celery": 10_000,
    "celery_cpu": 200,
    "celery_workers": [1, 2],
    "celery_broker": "rabbitmq",
}
QUICK: dict[str, Any] = {
    "preview": 200,
    "burst": [200],
    "steady_tasks": 100,
    "steady_seconds": 2,
    "scale": 500,
    "api": 50,
    "catchup": 200,
    "catchup_downtime": 5,
    "propagation": 50,
    "apply": 1000,
    "dashboard": 1000,
    "celery": 200,
    "celery_cpu": 20,
    "celery_workers": [1, 2],
    "celery_broker": "rabbitmq",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="scenarios to run")
    add(
        "--backend",
        choices=(*BACKENDS, "both"),
        default=None,
        help="database backend (default: both when PostgreSQL answers, else sqlite)",
    )
    add("--postgres-url", default=None, help="PostgreSQL server to create databases on")
    add("--quick", action="store_true", help="small sizes for a smoke test (under a minute)")
    add("--burst", type=int, nargs="+", help="burst sizes (default 1000 10000)")
    add("--steady-tasks", type=int, help="steady: tasks firing every second (default 1000)")
    add("--steady-seconds", type=int, help="steady: measured window in seconds (default 30)")
    add("--scale", type=int, help="scale: stored tasks (default 100000; 1000000 works)")
    add("--api", type=int, help="scale: tasks created over HTTP one by one (default 2000)")
    add("--catchup", type=int, help="catch-up: overdue tasks (default 10000)")
    add("--catchup-downtime", type=int, help="catch-up: minutes the scheduler was down (10)")
    add("--propagation", type=int, help="propagation: edits made by another process (200)")
    add("--preview", type=int, help="preview: fire times per expression (default 2000)")
    add("--apply", type=int, help="apply: tasks in the applied document (default 100000)")
    add("--dashboard", type=int, help="dashboard: stored tasks (default 100000)")
    add("--celery", type=int, help="celery: burst of runs sent to workers (default 10000)")
    add("--celery-cpu", type=int, help="celery: CPU-bound runs of ~50 ms (default 200)")
    add(
        "--celery-workers",
        type=int,
        nargs="+",
        help="celery: prefork processes of the one worker, one burst each (default 1 2)",
    )
    add(
        "--celery-broker",
        choices=(*celery_scenario.BROKERS, "both"),
        help="celery: the broker (default rabbitmq)",
    )
    add("--markdown", action="store_true", help="also print the table for benchmarks/README.md")
    options = parser.parse_args(argv)
    sizes = QUICK if options.quick else DEFAULTS
    for name, value in sizes.items():
        if getattr(options, name) is None:
            setattr(options, name, value)
    return options


def backends(choice: str | None) -> list[str]:
    available = postgres_available()
    if choice in (None, "both"):
        if not available:
            print(
                f"PostgreSQL does not answer at {postgres_admin_url()}: SQLite only",
                file=sys.stderr,
            )
            return ["sqlite"]
        return list(BACKENDS)
    if choice == "postgresql" and not available:
        raise SystemExit(f"PostgreSQL does not answer at {postgres_admin_url()}")
    return [choice]


def run(options: argparse.Namespace, chosen: list[str]) -> list[Result]:
    results: list[Result] = []
    if "preview" in options.only:
        results += preview.run(options.preview)
    if "burst" in options.only:
        results += burst.run(options.burst, chosen)
    if "steady" in options.only:
        results += steady.run(options.steady_tasks, options.steady_seconds, chosen)
    if "scale" in options.only:
        results += scale.run(options.scale, options.api, chosen)
    if "catchup" in options.only:
        results += catchup.run(options.catchup, options.catchup_downtime, chosen)
    if "propagation" in options.only:
        results += propagation.run(options.propagation, chosen)
    if "apply" in options.only:
        results += apply.run(options.apply, chosen)
    if "dashboard" in options.only:
        results += dashboard.run(options.dashboard, chosen)
    if "celery" in options.only:
        brokers = (
            list(celery_scenario.BROKERS)
            if options.celery_broker == "both"
            else [options.celery_broker]
        )
        results += celery_scenario.run(
            options.celery, options.celery_cpu, options.celery_workers, brokers, chosen
        )
    return results


def environment() -> dict[str, Any]:
    """What the figures were measured on."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--", "src")),
        "python": platform.python_version(),
        "apscheduler": version("apscheduler"),
        "sqlalchemy": version("sqlalchemy"),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    if options.postgres_url:
        os.environ[POSTGRES_ADMIN_ENV] = options.postgres_url
    chosen = backends(options.backend)
    began = time.perf_counter()
    results = run(options, chosen)
    compute_ratios(results)
    elapsed = time.perf_counter() - began
    env = environment()
    print(text_table(results))
    print(
        f"\n{len(results)} rows in {elapsed:.0f} s · commit {env['commit']}"
        f"{' + uncommitted changes in src' if env['uncommitted_changes'] else ''} · "
        f"Python {env['python']} · APScheduler {env['apscheduler']} · {env['cpus']} CPUs"
    )
    if options.markdown:
        print("\n" + markdown_table(results) + "\n")
    settings = {k: v for k, v in vars(options).items() if k not in ("markdown", "postgres_url")}
    print(
        json_line(results, {**settings, "backends": chosen, "elapsed_s": round(elapsed, 1), **env})
    )


if __name__ == "__main__":
    main()
