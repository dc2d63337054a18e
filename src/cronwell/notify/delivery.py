"""Delivering alerts (and task results, and application messages) through Apprise without
ever blocking or failing a run.

:meth:`Notifier.send` only puts the alert on a queue (:meth:`Notifier.deliver` a message
already rendered). One background thread renders it, resolves its targets (channel names,
Apprise URLs, or ``file:///`` paths, written atomically) and delivers to each, retrying a
failed delivery with exponential backoff. Retries wait in a priority queue keyed by their
due time, so a failing target never holds back the others while it waits; a target that
hangs delays the others by at most ``timeout`` seconds per attempt. Every (alert, URL) ends
as one :class:`DeliveryRecord`, with every secret of the URL hidden.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from cronwell.clock import Clock
from cronwell.domain.alerts import Alert
from cronwell.domain.delivery import DeliveryRecord
from cronwell.domain.events import AlertDelivered, EventBus
from cronwell.errors import ConfigError
from cronwell.extras import require
from cronwell.notify.discord import escape_mentions, is_discord_url, prepare_discord_url
from cronwell.notify.files import is_file_url, write_file
from cronwell.notify.message import Rendered, TemplateSet, render
from cronwell.notify.plumbing import KNOWN_URLS, apprise_asset, capturing, install_log_redaction
from cronwell.notify.redact import redact_url

__all__ = ["KNOWN_URLS", "DeliveryRecord", "Notifier", "apprise_asset", "install_log_redaction"]

if TYPE_CHECKING:
    import apprise

logger = logging.getLogger(__name__)


def is_url(target: str) -> bool:
    """A target containing ``://`` is an Apprise URL (or a ``file://`` path); anything
    else names a channel."""
    return "://" in target


def shown_target(url: str) -> str:
    """``url`` as logs and records show it: a file path as it is (a path is no secret, and
    a long folder name is not a token), any other URL redacted."""
    return url if is_file_url(url) else redact_url(url)


# Apprise's body formats by name ("json" is text to Apprise: a JSON document as the body)
_APPRISE_FORMATS = {"markdown": "markdown", "html": "html", "text": "text"}


@dataclass
class _Attempt:
    """How one attempt at one URL went: ``ok``, else ``error`` and whether to ``retry``."""

    ok: bool
    error: str | None = None
    retry: bool = True


FailureListener = Callable[[DeliveryRecord], None]


@dataclass
class _Send:
    alert: Alert
    targets: tuple[str, ...]
    rendered: Rendered | None = None  # None: rendered from the alert by the templates
    on_failed: FailureListener | None = None


@dataclass
class _Delivery:
    alert: Alert
    rendered: Rendered
    url: str
    channel: str | None
    attempts: int = 0
    last_error: str | None = None
    on_failed: FailureListener | None = None


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    job: _Send | _Delivery = field(compare=False)


class Notifier:
    """Sends alerts to channels and Apprise URLs from one background thread.

    ``channels`` maps a channel name to its Apprise URLs. A failed delivery is retried up to
    ``max_attempts`` attempts in all; attempt *n* failing waits ``backoff * 2**(n-1)``
    seconds before the next. ``timeout`` bounds each HTTP request (Apprise's connect and
    read timeouts, unless the URL sets ``cto``/``rto``). Each (alert, URL) ends as an
    :class:`~cronwell.domain.events.AlertDelivered` published on ``events``, from the
    delivery thread; ``sent`` and ``failed`` count them.
    """

    def __init__(
        self,
        *,
        channels: Mapping[str, str | Sequence[str]],
        clock: Clock,
        events: EventBus | None = None,
        max_attempts: int = 4,
        backoff: float = 1.0,
        templates: TemplateSet | None = None,
        timeout: float = 10.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if backoff < 0 or timeout <= 0:
            raise ValueError("backoff must be ≥ 0 and timeout > 0")
        self._channels = {
            name: ([urls] if isinstance(urls, str) else list(urls))
            for name, urls in channels.items()
        }
        if any(not is_file_url(url) for urls in self._channels.values() for url in urls):
            require("apprise", "alerts", "delivering alerts")  # said at start, not per alert
        self._clock = clock
        self._events = events
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self._templates = templates
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._drained = False  # close() has recorded what was left; nothing more is queued
        self._busy = 0  # jobs taken off the heap and not yet done with
        self._deadline: float | None = None
        self._sent = 0
        self._failed = 0
        self._counts = threading.Lock()
        install_log_redaction()
        for urls in self._channels.values():
            self._remember(*urls)

    # --- public API ------------------------------------------------------------------------

    @property
    def sent(self) -> int:
        """Deliveries that succeeded."""
        with self._counts:
            return self._sent

    @property
    def failed(self) -> int:
        """Deliveries given up on (including unknown channels and invalid URLs)."""
        with self._counts:
            return self._failed

    def start(self) -> None:
        """Start the delivery thread (a daemon). Alerts sent before are delivered then."""
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="cronwell-notify", daemon=True)
            self._thread.start()

    def send(self, alert: Alert, targets: Sequence[str]) -> None:
        """Queue ``alert`` for ``targets`` (channel names or Apprise URLs) and return at once.
        Never raises for a bad target: an unknown channel or an invalid URL becomes a failed
        :class:`DeliveryRecord`."""
        self._queue(alert, targets, None, None)

    def deliver(
        self,
        envelope: Alert,
        rendered: Rendered,
        targets: Sequence[str],
        on_failed: FailureListener | None = None,
    ) -> None:
        """Queue a message rendered already (a task's result, an application's message)
        for ``targets`` and return at once, as :meth:`send` does. ``envelope`` gives the
        event, task and run of its log records; ``on_failed`` is called with the record of
        each target given up on, from the delivery thread."""
        self._queue(envelope, targets, rendered, on_failed)

    def _queue(
        self,
        alert: Alert,
        targets: Sequence[str],
        rendered: Rendered | None,
        on_failed: FailureListener | None,
    ) -> None:
        if isinstance(targets, str):
            targets = [targets]
        wanted = tuple(t.strip() for t in targets if t and t.strip())
        if not wanted:
            return
        self._remember(*(t for t in wanted if is_url(t) and not is_file_url(t)))
        job = _Send(alert, wanted, rendered, on_failed)
        with self._cond:
            if self._closing:
                closed = True
            else:
                closed = False
                self._push(time.monotonic(), job)
        if closed:
            self._abandon(job, "the notifier was closed before it was sent")

    def deliver_now(self, alert: Alert, target: str) -> DeliveryRecord:
        """Deliver ``alert`` to ``target`` in the calling thread, one attempt per URL (for
        ``cronwell alerts test``). Each URL's record is passed to ``record``; for a channel
        with several URLs the result sums them up (``sent`` only when every URL was)."""
        target = target.strip()
        rendered = self._render(alert)
        if is_url(target):
            self._remember(target)
            return self._once(_Delivery(alert, rendered, target, None))
        urls, problem = self._resolve(target)
        if problem is not None:
            return self._finish(alert, target, None, "failed", 0, problem, rendered.title, log=True)
        records = [self._once(_Delivery(alert, rendered, url, target)) for url in urls]
        if len(records) == 1:
            return records[0]
        errors = [f"{r.target}: {r.error}" for r in records if r.status == "failed"]
        return DeliveryRecord(
            created_at=self._clock.now(),
            event=alert.event.value,
            task_id=alert.task_id,
            run_id=alert.run_id,
            target=target,
            status="failed" if errors else "sent",
            attempts=1,
            error="; ".join(errors) or None,
            title=rendered.title,
            channel=target,
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for everything queued so far (retries included)
        to be delivered or given up on; False if some is still queued then. A stopping
        process calls it so that its last notices are not lost with its daemon thread."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                thread = self._thread
                if remaining <= 0 or thread is None or not thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (retries included) for up to ``timeout`` seconds, then
        stop; what is still queued is recorded failed. An attempt in flight at the deadline
        is left to finish (and record itself) on the daemon thread."""
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + max(timeout, 0.0)
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            leftovers = [entry.job for entry in sorted(self._heap)]
            self._heap.clear()
            self._drained = True
            self._cond.notify_all()
        for job in leftovers:
            self._abandon(job, "cronwell stopped before it could be delivered")

    # --- the delivery thread ---------------------------------------------------------------

    def _push(self, due: float, job: _Send | _Delivery) -> None:
        heapq.heappush(self._heap, _Entry(due, next(self._seq), job))
        self._cond.notify_all()

    def _next_job(self) -> _Send | _Delivery | None:
        with self._cond:
            while True:
                now = time.monotonic()
                if self._deadline is not None and now >= self._deadline:
                    return None
                if self._heap:
                    head = self._heap[0]
                    if head.due <= now:
                        self._busy += 1
                        return heapq.heappop(self._heap).job
                    wake = head.due
                elif self._closing:
                    return None
                else:
                    wake = None
                if self._deadline is not None:
                    wake = self._deadline if wake is None else min(wake, self._deadline)
                self._cond.wait(None if wake is None else max(wake - now, 0.0))

    def _run(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                if isinstance(job, _Send):
                    self._expand(job)
                else:
                    self._deliver(job)
            except Exception:  # the thread must survive anything a job does
                logger.exception(
                    "Alert delivery failed unexpectedly", extra={"action": "alert_error"}
                )
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _expand(self, job: _Send) -> None:
        try:
            rendered = job.rendered or self._render(job.alert)
        except Exception as exc:
            self._abandon(job, f"the alert could not be rendered: {type(exc).__name__}: {exc}")
            return
        deliveries: list[_Delivery] = []
        for target in job.targets:
            if is_url(target):
                deliveries.append(
                    _Delivery(job.alert, rendered, target, None, on_failed=job.on_failed)
                )
                continue
            urls, problem = self._resolve(target)
            if problem is not None:
                self._finish(
                    job.alert,
                    target,
                    None,
                    "failed",
                    0,
                    problem,
                    rendered.title,
                    log=True,
                    on_failed=job.on_failed,
                )
                continue
            deliveries.extend(
                _Delivery(job.alert, rendered, url, target, on_failed=job.on_failed) for url in urls
            )
        for delivery in deliveries:
            self._requeue(delivery, 0.0)

    def _deliver(self, job: _Delivery) -> None:
        record = self._attempt_and_record(job, final_on_failure=False)
        if record is None:
            self._requeue(job, self.backoff * 2 ** (job.attempts - 1))

    def _requeue(self, job: _Delivery, delay: float) -> None:
        with self._cond:
            if not self._drained:
                self._push(time.monotonic() + delay, job)
                return
        # close() gave up waiting while this attempt was in flight: say so rather than
        # leave the job in a queue nobody reads.
        self._abandon(job, "cronwell stopped before it could be delivered")

    # --- one attempt -----------------------------------------------------------------------

    def _once(self, job: _Delivery) -> DeliveryRecord:
        record = self._attempt_and_record(job, final_on_failure=True)
        assert record is not None  # a final attempt always records
        return record

    def _attempt_and_record(
        self, job: _Delivery, *, final_on_failure: bool
    ) -> DeliveryRecord | None:
        """Try ``job`` once; record and return the outcome when it is final, else return
        ``None`` (the caller schedules the retry)."""
        outcome = self._attempt(job.url, job.rendered)
        job.attempts += 1
        target = shown_target(job.url)
        if outcome.ok:
            return self._finish(
                job.alert, target, job.channel, "sent", job.attempts, None, job.rendered.title
            )
        job.last_error = outcome.error
        if final_on_failure or not outcome.retry or job.attempts >= self.max_attempts:
            return self._finish(
                job.alert,
                target,
                job.channel,
                "failed",
                job.attempts,
                outcome.error,
                job.rendered.title,
                log=True,
                on_failed=job.on_failed,
            )
        logger.info(
            "Alert delivery failed; retrying",
            extra={"action": "alert_retry", "target": target, "attempt": job.attempts},
        )
        return None

    @cached_property
    def _asset(self) -> apprise.AppriseAsset:
        return apprise_asset()  # on the delivery thread, at the first delivery

    def _attempt(self, url: str, rendered: Rendered) -> _Attempt:
        if is_file_url(url):
            problem = write_file(url, rendered.body, rendered.file_name)
            return _Attempt(problem is None, problem)
        body = rendered.body
        prepared = url
        if is_discord_url(url):
            prepared = prepare_discord_url(url)
            body = escape_mentions(body)
            self._remember(prepared)
        shown = redact_url(url)
        apprise = require("apprise", "alerts", "delivering alerts")

        with capturing() as said:
            try:
                server = apprise.Apprise(asset=self._asset)
                if not server.add(prepared) or len(server) == 0:
                    reason = self._redact(" ".join(said)).rstrip(".")
                    return _Attempt(
                        False,
                        f"{shown} is not a usable Apprise URL (unknown scheme or missing "
                        f"parts){': ' + reason if reason else ''}.",
                        retry=False,
                    )
                for plugin in server:
                    self._set_timeouts(plugin, prepared)
                ok = server.notify(
                    title=rendered.title,
                    body=body,
                    notify_type=apprise.NotifyType(rendered.notify_type),
                    body_format=_APPRISE_FORMATS.get(rendered.body_format, "text"),
                )
            except Exception as exc:
                return _Attempt(False, self._redact(f"{type(exc).__name__}: {exc}"))
        if ok:
            return _Attempt(True)
        reason = self._redact(" ".join(said)) or "the service did not accept the notification"
        return _Attempt(False, reason)

    def _set_timeouts(self, plugin: Any, url: str) -> None:
        query = url.partition("?")[2].lower()
        keys = {pair.partition("=")[0] for pair in query.split("&")}
        if "cto" not in keys and hasattr(plugin, "socket_connect_timeout"):
            plugin.socket_connect_timeout = self.timeout
        if "rto" not in keys and hasattr(plugin, "socket_read_timeout"):
            plugin.socket_read_timeout = self.timeout

    # --- helpers ---------------------------------------------------------------------------

    def _render(self, alert: Alert) -> Rendered:
        try:
            return render(alert, self._templates)
        except ConfigError as exc:
            if self._templates is None:
                raise
            logger.warning(
                "Alert template failed; using the default one: %s",
                exc,
                extra={"action": "alert_template_failed", "event": alert.event.value},
            )
            return render(alert)

    def _resolve(self, name: str) -> tuple[list[str], str | None]:
        if name not in self._channels:
            return [], f"no channel named {name!r}; configure CRONWELL_CHANNELS"
        urls = [u.strip() for u in self._channels[name] if u and u.strip()]
        if not urls:
            return [], f"channel {name!r} has no URLs; configure CRONWELL_CHANNELS"
        return urls, None

    def _remember(self, *urls: str) -> None:
        KNOWN_URLS.add(*urls)

    def _redact(self, text: str) -> str:
        return KNOWN_URLS.redact(text).strip()

    def _abandon(self, job: _Send | _Delivery, why: str) -> None:
        if isinstance(job, _Delivery):
            error = f"{why} (after {job.attempts} attempt{'s' if job.attempts != 1 else ''}"
            error += f"; last error: {job.last_error})" if job.last_error else ")"
            self._finish(
                job.alert,
                shown_target(job.url),
                job.channel,
                "failed",
                job.attempts,
                error,
                job.rendered.title,
                log=True,
                on_failed=job.on_failed,
            )
            return
        for target in job.targets:
            self._finish(
                job.alert,
                shown_target(target) if is_url(target) else target,
                None if is_url(target) else target,
                "failed",
                0,
                why,
                job.rendered.title if job.rendered else job.alert.title,
                log=True,
                on_failed=job.on_failed,
            )

    def _finish(
        self,
        alert: Alert,
        target: str,
        channel: str | None,
        status: Literal["sent", "failed"],
        attempts: int,
        error: str | None,
        title: str,
        *,
        log: bool = False,
        on_failed: FailureListener | None = None,
    ) -> DeliveryRecord:
        record = DeliveryRecord(
            created_at=self._clock.now(),
            event=alert.event.value,
            task_id=alert.task_id,
            run_id=alert.run_id,
            target=target,
            status=status,
            attempts=attempts,
            error=self._redact(error) if error else None,
            title=title,
            channel=channel,
        )
        with self._counts:
            if status == "sent":
                self._sent += 1
            else:
                self._failed += 1
        if status == "sent":
            logger.info(
                "Alert sent",
                extra={
                    "action": "alert_sent",
                    "target": target,
                    "task_id": alert.task_id,
                    "attempts": attempts,
                },
            )
        elif log:
            logger.warning(
                "Alert not delivered to %s: %s",
                target,
                record.error,
                extra={
                    "action": "alert_failed",
                    "target": target,
                    "task_id": alert.task_id,
                    "attempts": attempts,
                },
            )
        if self._events is not None:  # a handler that raises is logged by the bus
            self._events.publish(AlertDelivered(record))
        if status == "failed" and on_failed is not None:
            try:
                on_failed(record)
            except Exception:
                logger.exception(
                    "A failed delivery's listener failed", extra={"action": "listener_failed"}
                )
        return record
