"""The collector and cronwell: freezing the start-up heap, in a process of its own (it
changes the whole process's collector), sets aside what was alive and still collects cycles
made afterwards; a burst hold turns the collector off for a while and gives back only what
it took."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading

from cronwell.gcpause import BurstHold

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


def test_a_burst_hold_turns_the_collector_off_until_released_and_only_if_it_was_on() -> None:
    hold = BurstHold(longest=30.0)
    assert gc.isenabled()
    try:
        hold.hold()
        assert hold.held and not gc.isenabled()
        assert 29.0 < hold.remaining() <= 30.0
        hold.hold()  # a second hold within the first changes nothing
        assert 29.0 < hold.remaining() <= 30.0
        hold.release()
        assert not hold.held and gc.isenabled()
        assert hold.remaining() == 0.0

        gc.disable()  # the application turned it off: a hold neither takes nor gives it back
        hold.hold()
        assert not hold.held
        hold.release()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_burst_hold_counts_down_to_zero() -> None:
    hold = BurstHold(longest=0.05)
    try:
        hold.hold()
        done = threading.Event()
        assert not done.wait(0.06)  # the hold's own span passes
        assert hold.held and hold.remaining() == 0.0  # over: the holder releases it next
    finally:
        hold.release()
    assert gc.isenabled()
