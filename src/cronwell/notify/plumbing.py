"""Apprise plumbing shared by every notifier: the asset cronwell sends with, the filter that
hides known URLs' secrets in what Apprise (and urllib3) log, and the capture of Apprise's
warnings so that a failed delivery can say why."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cronwell.notify.discord import COLOURS
from cronwell.notify.redact import RedactingFilter, URLRegistry

if TYPE_CHECKING:
    import apprise

#: Every URL any notifier has seen; the filter on Apprise's logger hides their secrets.
KNOWN_URLS = URLRegistry()
_FILTERED_LOGGERS = ("apprise", "urllib3.connectionpool")
_install_lock = threading.Lock()
_installed = False
_capture = threading.local()


class _ApprisePlumbing(logging.Filter):
    """On Apprise's logger: hides known URLs' secrets (via :class:`RedactingFilter`) and
    copies warnings from the thread that asked into that thread's capture list, so a failed
    delivery can say why."""

    def __init__(self) -> None:
        super().__init__()
        self._redact = RedactingFilter(KNOWN_URLS)

    def filter(self, record: logging.LogRecord) -> bool:
        self._redact.filter(record)
        buffer: list[str] | None = getattr(_capture, "buffer", None)
        if buffer is not None and record.levelno >= logging.WARNING:
            buffer.append(record.getMessage())
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to the ``apprise``, ``urllib3.connectionpool`` and
    ``cronwell.notify.delivery`` loggers (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        plumbing = _ApprisePlumbing()
        for name in _FILTERED_LOGGERS:
            logging.getLogger(name).addFilter(plumbing)
        # Our own records are built from redacted text; this is for exception tracebacks.
        logging.getLogger("cronwell.notify.delivery").addFilter(RedactingFilter(KNOWN_URLS))
        _installed = True


@contextmanager
def capturing() -> Iterator[list[str]]:
    buffer: list[str] = []
    previous = getattr(_capture, "buffer", None)
    _capture.buffer = buffer
    try:
        yield buffer
    finally:
        _capture.buffer = previous


def apprise_asset() -> apprise.AppriseAsset:
    """The Apprise asset cronwell uses: its name, the seed's colours for the four notify
    types (Discord embeds and other services that show a colour), and delivery in the
    calling thread. (Apprise is imported here and when delivering: a process that sends no
    alert does not load it.)"""
    import apprise

    return apprise.AppriseAsset(
        app_id="cronwell",
        app_desc="cronwell alerts",
        async_mode=False,
        html_notify_map={
            apprise.NotifyType.SUCCESS: f"#{COLOURS['success']:06X}",
            apprise.NotifyType.FAILURE: f"#{COLOURS['failure']:06X}",
            apprise.NotifyType.WARNING: f"#{COLOURS['warning']:06X}",
            apprise.NotifyType.INFO: f"#{COLOURS['info']:06X}",
        },
    )
