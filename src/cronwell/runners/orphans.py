"""Stopping the process group a dead cronwell process left behind (DESIGN rule 7: a run is
marked ``abandoned``, and retried, only once its process group is gone).

The lifeline (:mod:`cronwell.runners.lifeline`) kills a run's group when the process that
started it dies, so recovery usually finds the group gone already. It still checks: a
group can outlive its cronwell process when something else keeps the lifeline open (a
process forked from cronwell without exec that has not closed it yet) or when the child
was stopped (SIGSTOP) and has not seen the end of file.

A process group id is only a number, reused once the group is gone, so the group is the
run's only if one of its live members carries the run in its environment
(``CRONWELL_RUN_ID`` and ``CRONWELL_TASK_ID``, which every run's child process and its
descendants inherit): another program that happens to lead a group of that number is left
alone. Members and environments are read from ``/proc`` (Linux). Without ``/proc`` the
group is taken as the run's when it exists: a group id reused on such a system could be
stopped wrongly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from enum import StrEnum
from pathlib import Path

PROC = Path("/proc")
# how long recovery waits for a killed group to be gone, and how often it looks
KILL_WAIT = 2.0
_LOOK_EVERY = 0.02


class GroupFate(StrEnum):
    """What became of a run's recorded process group."""

    GONE = "gone"  # nothing of it was running (or the id now belongs to another program)
    KILLED = "killed"  # it was running; SIGKILL stopped it
    ALIVE = "alive"  # it was running and is still there after SIGKILL and KILL_WAIT


def stop_orphaned_group(
    pgid: int, *, run_id: int, task_id: str, wait: float = KILL_WAIT
) -> GroupFate:
    """Kill the process group ``pgid`` of run ``run_id`` of ``task_id`` if it is still
    running (SIGKILL to the whole group), and wait up to ``wait`` seconds for it to be
    gone. See the module docstring for how the group is known to be the run's. This
    process's own group is never touched."""
    if pgid <= 1 or pgid == os.getpgid(0):
        return GroupFate.GONE
    markers = (f"CRONWELL_RUN_ID={run_id}".encode(), f"CRONWELL_TASK_ID={task_id}".encode())
    if PROC.is_dir():
        members = _live_members(pgid)
        if not any(_carries(pid, markers) for pid in members):
            return GroupFate.GONE
    elif not _group_exists(pgid):
        return GroupFate.GONE
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while _group_running(pgid):
        if time.monotonic() >= deadline:
            return GroupFate.ALIVE
        time.sleep(_LOOK_EVERY)
    return GroupFate.KILLED


def _group_running(pgid: int) -> bool:
    if PROC.is_dir():
        return bool(_live_members(pgid))
    return _group_exists(pgid)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (a zombie runs nothing; it waits
    for its parent, or init, to reap it)."""
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(entry.name))
    return members


def _carries(pid: int, markers: tuple[bytes, ...]) -> bool:
    try:
        environ = b"\0" + (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return all(b"\0" + marker + b"\0" in environ + b"\0" for marker in markers)
