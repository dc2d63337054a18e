"""The gc_hold setting: an application that embeds cronwell keeps its garbage collector as
it set it unless it sets ``CRONWELL_GC_HOLD``; ``cronwell serve``, whose process is
cronwell's own, holds collections off through bursts and freezes its heap once up, unless
``CRONWELL_GC_HOLD=false``."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cronwell import Cronwell, Run, every, gcpause
from cronwell.settings import load_settings

# gc.isenabled() as each run of the burst saw it
_seen: list[bool] = []


def record_collector() -> None:
    _seen.append(gc.isenabled())


@pytest.fixture(autouse=True)
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CRONWELL_GC_HOLD", raising=False)
    before = gcpause.allowed()
    _seen.clear()
    yield
    gcpause.configure(before)
    gc.enable()


def _burst(cw: Cronwell, n: int = 8) -> list[bool]:
    """Fire ``n`` tasks due at the same instants until each has run once; what each run
    saw of the collector."""
    ran: set[str] = set()
    all_ran = threading.Event()

    def on_run(run: Run) -> None:
        ran.add(run.task_id)
        if len(ran) >= n:
            all_ran.set()

    cw.on_run(on_run)
    for i in range(n):
        cw.add_task(f"burst-{i}", schedule=every(seconds=1), func=record_collector)
    cw.start()
    try:
        assert all_ran.wait(60), f"only {sorted(ran)} ran"
    finally:
        cw.close()
    return list(_seen)


def test_the_setting_is_unset_by_default() -> None:
    assert load_settings().gc_hold is None


def test_an_embedded_cronwell_leaves_the_collector_alone(tmp_path: Path) -> None:
    gcpause.configure(True)  # as a Cronwell made earlier with the hold on left it
    cw = Cronwell(f"sqlite:///{tmp_path / 'cw.db'}")
    assert not gcpause.allowed()
    seen = _burst(cw)
    assert seen and all(seen)  # every run saw the collector on
    assert gc.isenabled()


def test_an_embedded_cronwell_with_the_setting_holds_the_collector_in_bursts(
    tmp_path: Path,
) -> None:
    cw = Cronwell(
        settings=load_settings(database_url=f"sqlite:///{tmp_path / 'cw.db'}", gc_hold=True)
    )
    assert gcpause.allowed()
    seen = _burst(cw)
    assert False in seen  # runs of a burst ran with the collector held off
    assert gc.isenabled()  # and it is back once the bursts are written


SERVE = textwrap.dedent("""
    import gc, os, signal, sys
    from cronwell import gcpause
    from cronwell.cli import sdnotify
    from cronwell.cli.main import main

    def ready(state):
        if state.startswith("READY=1"):
            print("hold", gcpause.allowed(), "frozen", gc.get_freeze_count() > 0, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
        return True

    sdnotify.notify = ready
    sys.argv = ["cronwell", "serve", "--no-api"]
    main()
""")


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(None, "hold True frozen True"), ("false", "hold False frozen False")],
    ids=["unset", "false"],
)
def test_cronwell_serve_holds_the_collector_unless_told_not_to(
    tmp_path: Path, setting: str | None, expected: str
) -> None:
    env = {**os.environ, "CRONWELL_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    env.pop("CRONWELL_GC_HOLD", None)
    if setting is not None:
        env["CRONWELL_GC_HOLD"] = setting
    done = subprocess.run(
        [sys.executable, "-c", SERVE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert expected in done.stdout.splitlines(), done.stdout + done.stderr
    assert "cronwell stopped." in done.stdout, done.stdout + done.stderr
