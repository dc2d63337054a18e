"""The collector and cronwell: freezing the start-up heap, in a process of its own (it
changes the whole process's collector), sets aside what was alive and still collects cycles
made afterwards; pauses (a burst hold, a bulk load) on any thread share one count, give
the collector back only if it was on, end at a burst hold's limit and in a forked child;
and none of it touches the collector, starts a thread or registers a fork hook unless the
process allows it (the gc_hold setting)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest
from tests.support.waiting import wait_until

from cronwell import gcpause
from cronwell.gcpause import BurstHold, collection_paused


@pytest.fixture(autouse=True)
def allowed() -> Iterator[None]:
    """The hold allowed, as in ``cronwell serve``; as it was afterwards."""
    before = gcpause.allowed()
    gcpause.configure(True)
    yield
    gcpause.configure(before)


CHILD = textwrap.dedent("""
    import gc, weakref
    from cronwell.gcpause import freeze_startup_heap

    class Node:
        pass

    def cycle():
        node = Node()
        node.itself = node  # a reference cycle: only the collector frees it
        return node

    alive = cycle()
    before = weakref.ref(alive)
    frozen = freeze_startup_heap()
    del alive  # now only its cycle holds it, among objects the collector passes over
    after = weakref.ref(cycle())
    gc.collect()
    print(frozen, before() is not None, after() is None)
""")


def test_what_is_alive_is_set_aside_and_later_cycles_are_collected() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True
    )
    frozen, set_aside, collected = done.stdout.split()
    assert int(frozen) > 1000  # the interpreter and cronwell's modules, at least
    assert set_aside == "True"  # a cycle alive at the freeze stays out of collections
    assert collected == "True"  # one made afterwards is freed as usual


def test_a_burst_hold_turns_the_collector_off_until_released() -> None:
    hold = BurstHold(longest=30.0)
    assert gc.isenabled()
    try:
        hold.hold()
        assert hold.held and not gc.isenabled()
        hold.hold()  # a second hold within the first takes no second pause
        hold.release()
        assert not hold.held and gc.isenabled()
    finally:
        hold.close()
        gc.enable()


def test_a_collector_the_application_turned_off_stays_off() -> None:
    hold = BurstHold(longest=30.0)
    gc.disable()
    try:
        hold.hold()
        with collection_paused():
            pass
        hold.release()
        assert not gc.isenabled()
    finally:
        hold.close()
        gc.enable()


def test_pauses_on_several_threads_end_when_the_last_one_does() -> None:
    hold = BurstHold(longest=30.0)
    inside, leave = threading.Event(), threading.Event()

    def paused_elsewhere() -> None:
        with collection_paused():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=paused_elsewhere)
    try:
        hold.hold()
        other.start()
        assert inside.wait(10)
        hold.release()  # the other thread's pause still holds
        assert not gc.isenabled()
        leave.set()
        other.join(10)
        assert gc.isenabled()
    finally:
        leave.set()
        hold.close()
        gc.enable()


def test_a_hold_ends_at_its_limit_when_its_holder_does_not_end_it() -> None:
    """A writer retrying through a database outage must not keep the collector off."""
    hold = BurstHold(longest=0.05)
    try:
        hold.hold()
        assert not gc.isenabled()
        wait_until(gc.isenabled, timeout=5, what="the collector back on")
        assert not hold.held
    finally:
        hold.close()
        gc.enable()


FORKED = textwrap.dedent("""
    import gc, os
    from cronwell import gcpause
    from cronwell.gcpause import BurstHold

    gcpause.configure(True)

    hold = BurstHold(longest=30.0)
    hold.hold()
    pid = os.fork()
    if pid == 0:  # the child has no holder to end the hold
        os._exit(0 if gc.isenabled() else 1)
    _, status = os.waitpid(pid, 0)
    hold.close()
    print(os.waitstatus_to_exitcode(status), gc.isenabled())
""")


def test_a_child_forked_during_a_hold_collects() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["0", "True"]


def test_not_allowed_neither_pauses_nor_holds_touch_the_collector() -> None:
    gcpause.configure(False)
    hold = BurstHold(longest=30.0)
    try:
        with collection_paused():
            assert gc.isenabled()
        hold.hold()
        assert not hold.held and gc.isenabled()
        assert not any(t.name == "cronwell-gc-hold" and t.is_alive() for t in threading.enumerate())
    finally:
        hold.close()
        gc.enable()


LAZY_HOOK = textwrap.dedent("""
    import os

    registered = []
    real = os.register_at_fork

    def counting(**hooks):
        registered.extend(
            f"{when}:{hook.__name__}"
            for when, hook in hooks.items()
            if hook.__module__ == "cronwell.gcpause"
        )
        real(**hooks)

    os.register_at_fork = counting
    from cronwell import gcpause

    print("imported", len(registered))
    with gcpause.collection_paused():
        pass
    print("not allowed", len(registered))
    gcpause.configure(True)
    with gcpause.collection_paused():
        pass
    with gcpause.collection_paused():
        pass
    print("paused twice", len(registered), registered)
""")


def test_the_fork_hook_is_registered_at_the_first_pause_taken_not_at_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LAZY_HOOK], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [
        "imported 0",
        "not allowed 0",
        "paused twice 1 ['after_in_child:_after_fork_in_child']",
    ]
