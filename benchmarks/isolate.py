"""Each measurement runs in a fresh Python process, so that memory, threads and caches left
by an earlier one cannot colour it.

Parent side: :func:`run_isolated` (``"benchmarks.burst:cronwell"`` plus keyword arguments)
starts ``python -m benchmarks.isolate TARGET JSON`` and returns the figures the child prints.
Child side: :func:`main` calls the target, prints one line ``BENCH_RESULT {json}`` and
exits at once (``os._exit``: the target has closed what it measured, and threads it could
not stop must not hold the process).
The child's log output goes to a file, shown in part only when the child fails.

The same command line serves profiling, e.g.
``py-spy record -o /tmp/prof.txt --format raw -- .venv/bin/python -m benchmarks.isolate
benchmarks.burst:cronwell '{"n": 10000, "url": "sqlite:////tmp/b.db"}'``.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Figures

MARKER = "BENCH_RESULT "
ROOT = Path(__file__).resolve().parent.parent


def run_isolated(target: str, timeout: float, **kwargs: Any) -> Figures:
    """Run ``target(**kwargs)`` in a child process and return its figures; on failure or
    timeout, ``{"error": ...}`` with the tail of the child's log."""
    env = dict(os.environ)
    # the garbage-collector hold of `cronwell serve`; the figures have always been taken
    # with it, and CRONWELL_GC_HOLD=false measures an embedded Cronwell's default
    env.setdefault("CRONWELL_GC_HOLD", "true")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "benchmarks.isolate", target, json.dumps(kwargs)]
    with tempfile.TemporaryFile("w+") as log:
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s", "log": _tail(log)}
        for line in reversed(done.stdout.splitlines()):
            if line.startswith(MARKER):
                figures: Figures = json.loads(line.removeprefix(MARKER))
                return figures
        return {"error": f"exit status {done.returncode}, no result", "log": _tail(log)}


def _tail(log: Any, lines: int = 15) -> str:
    log.seek(0)
    return "\n".join(log.read().splitlines()[-lines:])


def main() -> None:
    """Child entry point: ``python -m benchmarks.isolate module:function '{"kw": ...}'``."""
    target, arguments = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    gc.collect()
    figures = function(**arguments)
    print(MARKER + json.dumps(figures), flush=True)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
