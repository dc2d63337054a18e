"""The tasks files of ``cronwell serve --tasks``: the declared truth of the service.

:class:`TasksFiles` applies the files with prune for their source (each file's name, or
the ``--source`` given) at start and at every reload: on SIGHUP, ``cronwell reload``,
``POST /api/v1/reload``, and, with ``--watch``, when a file changes (:class:`FileWatcher`).
A reload whose files have a problem changes nothing: the service keeps serving what it had,
and the problems go to the log (``action=config_rejected``), to the caller and, as a
``config_rejected`` alert, to the scheduler channels.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cronwell.domain.alerts import AlertEvent
from cronwell.errors import CronwellError
from cronwell.runtime.cronwell import Cronwell
from cronwell.service.declared import (
    Definition,
    DocumentError,
    Plan,
    check_definitions,
    read_documents,
)

log = logging.getLogger(__name__)

WATCH_INTERVAL = 1.0  # seconds between two looks at the files
# a change is applied once the files have stayed the same this long (an editor writing)
WATCH_DEBOUNCE = 0.3
_RETRY_MAX = 60.0  # seconds between attempts while the database does not answer
_PROBLEMS_SHOWN = 20  # problems an alert lists; the log and the response list them all


class TasksFiles:
    """The tasks files a service holds its tasks to.

    Every apply reads the files afresh and makes the database hold exactly their tasks for
    their sources, in one transaction: the tasks of those sources no longer declared are
    deleted; tasks of other sources (the API's, the CLI's, another file's, cronwell's own)
    are never touched. Applies are serialized: a SIGHUP, an API call and the watcher never
    interleave."""

    def __init__(self, cw: Cronwell, paths: Sequence[Path], *, source: str | None = None) -> None:
        self._cw = cw
        self.paths = [Path(p) for p in paths]
        self.source = source
        # explicit, so that a file emptied of its tasks still prunes its source
        self.scope = {source} if source else {p.name for p in self.paths}
        self._lock = threading.Lock()
        self.seen: tuple[Signature, ...] = ()

    def check(self) -> list[Definition]:
        """The files' definitions, checked as an apply checks them (fields, cron, zones,
        functions importable, duplicate ids) without opening the database;
        :class:`DocumentError` listing every problem."""
        return self._read(check=True)

    def _read(self, *, check: bool) -> list[Definition]:
        """The files' definitions; :class:`DocumentError` with every problem of the files
        (with ``check``, or when the files have problems of shape or keys, the problems of
        each definition too: all of them are reported at once)."""
        definitions, problems = read_documents(self.paths)
        if check or problems:
            problems += check_definitions(
                definitions,
                default_timezone=self._cw.timezone,
                is_registered=self._cw.registry.__contains__,
            )[1]
        if problems:
            raise DocumentError(problems)
        return definitions

    def apply(self, *, reason: str, alert: bool = True) -> Plan:
        """Read the files and apply them with prune; return the plan applied. On a
        problem in the files, nothing changes: :class:`DocumentError` is raised after the
        problems are logged and, with ``alert``, sent as a ``config_rejected`` alert.
        ``reason`` (``start``, ``SIGHUP``, ``api``, ``watch``) goes to the log."""
        with self._lock:
            self.seen = signatures(self.paths)
            try:
                plan = self._cw.service.apply(
                    self._read(check=False), source=self.source, prune=True, scope=self.scope
                )
            except DocumentError as exc:
                self._rejected(exc, reason, alert=alert)
                raise
            except CronwellError as exc:
                log.error(
                    "tasks files not applied: %s",
                    exc,
                    extra={"action": "config_apply_failed", "reason": reason, **self._where()},
                )
                raise
        log.info(
            "tasks files applied: %d created, %d updated, %d deleted, %d unchanged",
            len(plan.create),
            len(plan.update),
            len(plan.delete),
            plan.unchanged,
            extra={
                "action": "config_applied",
                "reason": reason,
                "tasks_created": len(plan.create),
                "tasks_updated": len(plan.update),
                "tasks_deleted": len(plan.delete),
                "tasks_unchanged": plan.unchanged,
                **self._where(),
            },
        )
        return plan

    def _where(self) -> dict[str, str]:
        files = ",".join(str(p) for p in self.paths)
        return {"files": files, "source": self.source or ",".join(sorted(self.scope))}

    def _rejected(self, exc: DocumentError, reason: str, *, alert: bool) -> None:
        problems = [str(problem) for problem in exc.problems]
        log.warning(
            "tasks files rejected, nothing changed:\n%s",
            "\n".join(problems),
            extra={
                "action": "config_rejected",
                "reason": reason,
                "problems": len(problems),
                **self._where(),
            },
        )
        if not alert:
            return
        shown = problems[:_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"… and {len(problems) - len(shown)} more")
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        self._cw.alerting.scheduler_event(
            AlertEvent.CONFIG_REJECTED,
            f"cronwell {self._cw.settings.instance_id} rejected its tasks files ({count}); "
            "nothing changed",
            instance=self._cw.settings.instance_id,
            reason=reason,
            files=", ".join(str(p) for p in self.paths),
            problems="\n".join(shown),
        )


@dataclass(frozen=True, slots=True)
class Signature:
    """What a file looked like: its size and modification time, and its content's hash
    (``None`` when it could not be read)."""

    size: int
    mtime_ns: int
    digest: str | None


def signatures(paths: Sequence[Path]) -> tuple[Signature, ...]:
    return tuple(_signature(path) for path in paths)


def _signature(path: Path, known: Signature | None = None) -> Signature:
    """``path``'s signature; its content is hashed only when its size or time differ from
    ``known``'s."""
    try:
        stat = path.stat()
    except OSError:
        return Signature(-1, -1, None)
    if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return known
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        digest = None
    return Signature(stat.st_size, stat.st_mtime_ns, digest)


def _content(signature: Signature) -> tuple[int, str | None]:
    """What a change is judged on: a file touched but not changed is no change."""
    return (signature.size, signature.digest) if signature.digest else (-1, None)


class FileWatcher:
    """Applies the tasks files again when one of them changes (``serve --watch``).

    It looks at each file's size, time and content hash every ``interval`` seconds; a
    change is applied once the files have stayed the same for ``debounce`` seconds (a file
    being written is not read half-way, as far as that can be told). A change whose files
    are rejected (half-written, or wrong) is not tried again until the files change again;
    one that fails for another reason (the database does not answer) is retried, less and
    less often."""

    def __init__(
        self,
        files: TasksFiles,
        *,
        interval: float = WATCH_INTERVAL,
        debounce: float = WATCH_DEBOUNCE,
    ) -> None:
        self._files = files
        self._interval = interval
        self._debounce = debounce
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cronwell-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        paths = self._files.paths
        current = self._files.seen or signatures(paths)
        delay = backoff = self._interval
        failing = False
        while not self._stop.wait(delay):
            delay = self._interval
            current = tuple(_signature(p, k) for p, k in zip(paths, current, strict=True))
            applied = tuple(map(_content, self._files.seen))
            if tuple(map(_content, current)) == applied and not failing:
                continue
            # settle: the same content over a whole debounce before reading it
            while not self._stop.wait(self._debounce):
                again = tuple(_signature(p, k) for p, k in zip(paths, current, strict=True))
                if tuple(map(_content, again)) == tuple(map(_content, current)):
                    break
                current = again
            if self._stop.is_set():
                return
            try:
                self._files.apply(reason="watch")
            except DocumentError:
                failing = False  # tried again when the files change again
                backoff = self._interval
            except Exception as exc:  # the database, or a bug: the watcher goes on
                if not isinstance(exc, CronwellError):
                    log.exception("reload failed", extra={"action": "config_apply_failed"})
                failing = True
                delay, backoff = backoff, min(_RETRY_MAX, 2 * backoff)
            else:
                failing = False
                backoff = self._interval
