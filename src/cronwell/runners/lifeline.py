"""The lifeline: how a child process group learns that the cronwell process that started it
died, so that it dies too (DESIGN rule 7: children never outlive their run's record).

Each cronwell process holds the write end of one pipe, its lifeline, for as long as it
lives; it never writes to it. Every child it starts for a run (a shell command's
:mod:`~cronwell.runners.reaper`, a process-isolated Python action's child) inherits the
read end and watches it from a thread. Nothing is ever written, so the read returns only
at end of file, and end of file comes when the last write end is closed: when the kernel
closes the cronwell process's files as it dies, whatever killed it (SIGKILL, a crash, the
OOM killer). The watcher then sends SIGKILL to its whole process group, so the run's
command and everything it started die with it.

Why a pipe rather than ``prctl(PR_SET_PDEATHSIG)``: the parent-death signal fires when
the *thread* that forked the child exits, not the process, and it reaches only the direct
child, not its process group; setting it between fork and exec needs a ``preexec_fn``,
which is unsafe in a process with threads. The pipe is keyed to the process's own death,
needs nothing between fork and exec, and works wherever pipes do. The write end is
close-on-exec, so the commands cronwell starts never hold it; a process forked (without
exec) from cronwell closes its inherited copy at once (:func:`os.register_at_fork`), so
only the process that made a lifeline keeps it open.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

_lock = threading.Lock()
_ends: tuple[int, int] | None = None  # (read, write), both close-on-exec in this process


def lifeline_fd() -> int:
    """The read end of this process's lifeline, made on first use. Hand it to a child with
    ``pass_fds``; the child watches it with :func:`watch`."""
    global _ends
    with _lock:
        if _ends is None:
            _ends = os.pipe()
        return _ends[0]


def _forget_in_child() -> None:
    """A forked copy of this process does not own the children of the original: it closes
    the lifeline it inherited (its own children get a lifeline of its own)."""
    global _ends, _lock
    _lock = threading.Lock()
    if _ends is not None:
        for fd in _ends:
            with contextlib.suppress(OSError):
                os.close(fd)
        _ends = None


os.register_at_fork(after_in_child=_forget_in_child)


def watch(fd: int) -> threading.Thread:
    """In a child: kill this process's whole group with SIGKILL as soon as ``fd`` (the
    inherited read end of a lifeline) reaches end of file, that is, once the process that
    made the lifeline is gone. ``fd`` is made non-inheritable so the child's own
    subprocesses do not carry it. Returns the watching (daemon) thread."""
    os.set_inheritable(fd, False)
    thread = threading.Thread(target=_wait_and_kill, args=(fd,), name="cronwell-lifeline")
    thread.daemon = True
    thread.start()
    return thread


def _wait_and_kill(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:  # not a lifeline after all: nothing can be watched
            return
    os.killpg(os.getpgid(0), signal.SIGKILL)
