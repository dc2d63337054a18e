"""The reaper: the small parent of every shell command, which kills the command's whole
process group when the cronwell process that started it dies (DESIGN rule 7).

``python -I -S reaper.py LIFELINE_FD ERROR_FD ARGV...`` — the shell runner starts it by
file path, so it imports nothing of cronwell (``-m cronwell…`` would import the whole
package) and nothing but C modules of the standard library. It leads the run's process group (the
shell runner starts it in a new session), forks and execs the command in that group, and
then:

- waits for the command and exits as it did: the same exit code, or the same signal
  (sent to itself), so the shell runner reports ``exit code 3`` or ``killed by signal
  SIGTERM`` as if it had run the command directly;
- meanwhile watches the lifeline (:mod:`cronwell.runners.lifeline`): at its end of file,
  when cronwell is gone, it sends SIGKILL to the whole group, the command, whatever the
  command started, and itself.

It ignores SIGTERM, so stopping a run (SIGTERM to the group, SIGKILL after the grace)
stops the command while the reaper stays to report how it ended, even when the stop comes
before the command is executed; the command itself gets
the default disposition of SIGTERM, SIGPIPE and SIGXFSZ back before exec, as
``subprocess`` would give it. When the command cannot be executed (no such file,
permission denied) the reaper writes ``errno`` and the file name to ``ERROR_FD`` and exits
127, and the shell runner reports the error as it always has.

A wrapper process per command is the robust choice: the lifeline reaches the command's
group from the first instant (the file descriptor is inherited at fork), and it kills the
whole group, which neither ``PR_SET_PDEATHSIG`` (the direct child only, tied to the forking
thread) nor a shared watcher process (told of each group after it starts, a window in
which cronwell may die) would.
"""

from __future__ import annotations

# _signal and _thread rather than signal and threading: those import enum and more, most
# of what the reaper would cost to start
import _signal  # type: ignore[import-not-found]  # the C module under signal: no stubs
import _thread
import os
import sys

_RESET = ("SIGTERM", "SIGPIPE", "SIGXFSZ")


def main(args: list[str]) -> int:
    # SIGTERM is blocked across the fork, so that a stop that comes before the command is
    # executed is neither ignored with the reaper's disposition nor lost at the exec: the
    # child restores the default and unblocks it (a pending SIGTERM then ends the child
    # as it would have ended the command), the reaper forwards one that reached it before
    # the fork, then ignores SIGTERM and unblocks it.
    _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGTERM})
    lifeline, errors = int(args[0]), int(args[1])
    argv = args[2:]
    os.set_inheritable(lifeline, False)
    os.set_inheritable(errors, False)
    pid = os.fork()
    if pid == 0:
        _exec(argv, errors)
    # a SIGTERM that came before the fork is pending here only (a forked child starts
    # with no pending signals): pass it on, or the command would run until the SIGKILL
    stopped = _signal.SIGTERM in _signal.sigpending()
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGTERM})
    if stopped:
        os.kill(pid, _signal.SIGTERM)
    os.close(errors)
    _thread.start_new_thread(_watch, (lifeline,))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (_signal.SIGKILL, _signal.SIGSTOP):  # those cannot be handled anyway
            _signal.signal(sig, _signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        return 128 + sig  # a signal that does not end a process by default
    return os.waitstatus_to_exitcode(status)


def _exec(argv: list[str], errors: int) -> None:
    """In the forked child: become the command, or report why not and exit 127."""
    try:
        for name in _RESET:
            if hasattr(_signal, name):
                _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGTERM})
        os.execvp(argv[0], argv)
    except OSError as exc:
        report = f"{exc.errno}\0{exc.filename or argv[0]}".encode(errors="surrogateescape")
        try:
            os.write(errors, report)
        finally:
            os._exit(127)
    finally:
        os._exit(127)


def _watch(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:  # not a lifeline: nothing to watch
            return
    os.killpg(0, _signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
