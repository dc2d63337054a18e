"""Where a task's results go once a run succeeded (seed 001's destinations): a chat, a
webhook, an e-mail, a folder.

A task declares ``deliver = [{to = "discord://ID/TOKEN", format = "markdown"}, {to =
"file:///srv/summaries/", format = "markdown"}]``. What a run delivers is what its action
returned, or what it passed to ``ctx.deliver(...)`` (each call one result); a shell or HTTP
action delivers its output. Delivery itself (Apprise, files, retries, the log) is
:mod:`cronwell.notify.results`'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

DeliveryFormat = Literal["markdown", "text", "html", "json"]

#: The extension of a file written in each format.
EXTENSIONS: dict[str, str] = {"markdown": "md", "text": "txt", "html": "html", "json": "json"}


class DeliveryTarget(BaseModel):
    """One destination of a task's results.

    ``to`` is an Apprise URL (``discord://``, ``json://``, ``mailto://``, ``slack://``…, and
    any schema an application registers with Apprise), a channel name from the settings
    (``CRONWELL_CHANNELS``), or a folder as ``file:///srv/summaries/`` (each run writes a
    file there; a ``file://`` URL not ending in ``/`` names the file itself, replaced by
    each run). ``format`` is how a result is written: ``markdown`` (the default), ``text``,
    ``html`` or ``json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str
    format: DeliveryFormat = "markdown"

    @field_validator("to")
    @classmethod
    def _target(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(
                "a delivery target needs an Apprise URL, a channel name or a file:/// folder"
            )
        if value.lower().startswith("file:") and not value.lower().startswith("file:///"):
            raise ValueError(
                f"{value!r} is not an absolute file URL; write file:///path/to/folder/ "
                "(three slashes, then the absolute path)"
            )
        return value

    @property
    def is_file(self) -> bool:
        return self.to.lower().startswith("file:///")


@dataclass(frozen=True, slots=True)
class Result:
    """One thing a run delivers: ``value`` (text, or anything JSON can show) and an
    optional ``title`` (the task's name and occurrence when ``None``)."""

    value: Any
    title: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One line of the notifications log: one alert to one URL (or to a channel that could
    not be resolved). ``target`` is the redacted URL or the channel name, ``channel`` the
    channel the URL came from, ``error`` a redacted sentence when ``status`` is ``failed``;
    ``attempts`` is 0 when nothing could be tried (unknown channel, notifier closed)."""

    created_at: datetime
    event: str
    task_id: str | None
    run_id: int | None
    target: str
    status: Literal["sent", "failed"]
    attempts: int
    error: str | None
    title: str
    channel: str | None = None
