"""``Cronwell.wrap_runner``: what an integration puts around each action of a kind (Django's
connection hygiene) runs in the thread that runs the action, for scheduled and manual
runs, and is asked to cancel and close as the runner it wraps."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.waiting import RunCollector

from cronwell import Cronwell, RunContext, RunStatus
from cronwell.runners import Outcome, Runner

seen: list[tuple[str, int]] = []


def job() -> int:
    seen.append(("action", threading.get_ident()))
    return 1


class Around:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.closed = False

    def run(self, action: Any, ctx: RunContext, *, timeout: float | None) -> Outcome:
        seen.append(("before", threading.get_ident()))
        try:
            return self.runner.run(action, ctx, timeout=timeout)
        finally:
            seen.append(("after", threading.get_ident()))

    def close(self) -> None:
        self.closed = True
        self.runner.close()  # type: ignore[attr-defined]


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    seen.clear()
    instance = Cronwell(database_url, "UTC", poll_interval=0.2)
    yield instance
    instance.close()


def test_the_wrapper_runs_around_each_python_action_in_its_thread(cw: Cronwell) -> None:
    wrappers: list[Around] = []
    cw.wrap_runner("python", lambda runner: wrappers.append(Around(runner)) or wrappers[-1])
    cw.add_task("job", schedule="* * * * * *", func=job)
    cw.add_task("echo", schedule="0 0 1 1 *", shell="echo shell")
    collector = RunCollector()
    cw.on_run(collector)
    cw.start()
    ran = collector.wait_for(1, "job", timeout=30, predicate=lambda r: r.return_value == "1")
    assert ran[0].status is RunStatus.SUCCEEDED
    manual = cw.run_now("job")  # in this thread
    assert manual.return_value == "1"
    assert cw.run_now("echo").output == "shell\n"  # another kind: not wrapped

    cw.close()  # waits for scheduled runs under way
    assert wrappers[0].closed  # closed with the runners
    by_thread: dict[int, list[str]] = defaultdict(list)
    for step, thread in list(seen):
        by_thread[thread].append(step)
    assert by_thread.pop(threading.get_ident()) == ["before", "action", "after"]
    assert by_thread  # the worker threads of the scheduled runs
    for steps in by_thread.values():
        assert steps == ["before", "action", "after"] * (len(steps) // 3)


def test_an_unknown_kind_is_refused(cw: Cronwell) -> None:
    with pytest.raises(ValueError, match="No runner for actions of kind 'ftp'"):
        cw.wrap_runner("ftp", lambda runner: runner)
