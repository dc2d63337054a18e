"""Freezing the start-up heap, in a process of its own (it changes the whole process's
collector): what was alive is set aside, and cycles made afterwards are still collected."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
