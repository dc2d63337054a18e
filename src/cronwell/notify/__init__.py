"""Alert delivery (DESIGN rule 8): rendering, redaction, Discord embeds and Apprise delivery.

``Notifier`` delivers from one background thread and never blocks or fails a run;
``render`` turns an :class:`~cronwell.domain.alerts.Alert` into a title and a Markdown body;
``redact_url`` / ``redact_text`` keep the secrets of notification URLs out of every log and
record.
"""

from __future__ import annotations

from cronwell.notify.delivery import DeliveryRecord, Notifier, apprise_asset
from cronwell.notify.discord import COLOURS, discord_payload
from cronwell.notify.message import Rendered, TemplateSet, render
from cronwell.notify.redact import redact_text, redact_url

__all__ = [
    "COLOURS",
    "DeliveryRecord",
    "Notifier",
    "Rendered",
    "TemplateSet",
    "apprise_asset",
    "discord_payload",
    "redact_text",
    "redact_url",
    "render",
]
