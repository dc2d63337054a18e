"""Discord: embed colours, the execute-webhook payload, and URL preparation for Apprise.

Two ways to reach Discord share the colours here: :func:`discord_payload` builds the JSON
body of Discord's *Execute Webhook* call (for integrations posting it themselves, such as a
discord.py bot), and :func:`prepare_discord_url` readies a ``discord://`` URL for Apprise,
whose Discord plugin builds its own embed from the title, the body and the asset's colours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from cronwell.clock import utc_now
from cronwell.domain.alerts import Alert, Severity
from cronwell.notify.message import Rendered, human_duration, iso, one_line

#: Embed colours, as the Discord bot seed used them.
COLOURS: dict[Severity, int] = {
    "success": 0x00FF00,
    "failure": 0xFF0000,
    "warning": 0xFFA500,
    "info": 0x3498DB,
}

# Discord's documented embed limits (https://discord.com/developers/docs/resources/message
# #embed-object-embed-limits), counted here in UTF-16 code units, which is never fewer than
# the characters Discord counts.
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000

_INLINE_LIMIT = 40
_NATIVE = re.compile(r"^https?://(ptb\.|canary\.)?discord(app)?\.com/api/webhooks/", re.I)


def text_length(text: str) -> int:
    """Length in UTF-16 code units (how JavaScript, and Discord, measure strings)."""
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 code units, ending in "…" when cut."""
    if text_length(text) <= limit:
        return text
    if limit <= 0:
        return ""
    kept = text
    while kept and text_length(kept) > limit - 1:
        # Cut roughly, then by one character, so long inputs stay cheap.
        excess = text_length(kept) - (limit - 1)
        kept = kept[: len(kept) - max(excess // 2, 1)]
    return kept + "…"


def discord_colour(severity: Severity) -> int:
    return COLOURS[severity]


def _fields(alert: Alert) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    task = alert.task_name or alert.task_id
    if task:
        fields.append(("Task", task))
    if alert.schedule:
        fields.append(("Schedule", alert.schedule))
    if alert.occurrence:
        fields.append(("Occurrence", iso(alert.occurrence)))
    if alert.attempt is not None:
        fields.append(("Attempt", str(alert.attempt)))
    if alert.duration is not None:
        fields.append(("Duration", human_duration(alert.duration)))
    if alert.failures:
        fields.append(("Failures", str(alert.failures)))
    if alert.error:
        fields.append(("Error", one_line(alert.error)))
    fields.extend((str(key), str(value)) for key, value in alert.details.items())
    return [(name, value) for name, value in fields if name.strip() and value.strip()]


def discord_payload(
    alert: Alert, rendered: Rendered, *, timestamp: datetime | None = None
) -> dict[str, Any]:
    """The JSON body of Discord's Execute Webhook call: one embed with the rendered title
    and body, the severity colour, the alert's facts as fields, a timestamp (``timestamp``,
    else the occurrence, else now; ISO 8601 in UTC) and the run link as ``url`` when it is
    an absolute http(s) URL.

    Discord's limits are enforced by cutting (with "…"): title ≤ 256, description ≤ 4096,
    ≤ 25 fields, field name ≤ 256, field value ≤ 1024, and all embed text ≤ 6000 (fields
    are dropped from the end first, as the description repeats them, then the description
    is shortened).
    """
    title = truncate(rendered.title, TITLE_LIMIT)
    description = truncate(rendered.body, DESCRIPTION_LIMIT)
    facts = [
        (truncate(name, FIELD_NAME_LIMIT), truncate(value, FIELD_VALUE_LIMIT))
        for name, value in _fields(alert)[:FIELDS_LIMIT]
    ]

    def total() -> int:
        return (
            text_length(title)
            + text_length(description)
            + sum(text_length(name) + text_length(value) for name, value in facts)
        )

    # The body already says what the fields say: fields go first, then the body is cut.
    while total() > EMBED_TOTAL_LIMIT and facts:
        facts.pop()
    excess = total() - EMBED_TOTAL_LIMIT
    if excess > 0:
        description = truncate(description, max(text_length(description) - excess, 0))
    fields = [
        {
            "name": name,
            "value": value,
            "inline": text_length(value) <= _INLINE_LIMIT and name != "Error",
        }
        for name, value in facts
    ]

    when = timestamp or alert.occurrence or utc_now()
    embed: dict[str, Any] = {
        "title": title,
        "description": description,
        "color": COLOURS[rendered.notify_type],
        "fields": fields,
        "timestamp": when.astimezone(UTC).isoformat(),
    }
    if alert.link and alert.link.lower().startswith(("http://", "https://")):
        embed["url"] = alert.link
    return {"embeds": [embed]}


def is_discord_url(url: str) -> bool:
    """True for ``discord://`` URLs and Discord's own ``https://`` webhook URLs."""
    lowered = url.strip().lower()
    return lowered.startswith("discord://") or bool(_NATIVE.match(lowered))


def prepare_discord_url(url: str) -> str:
    """``url`` with ``format=markdown`` (Apprise then posts an embed coloured by the asset)
    and ``fields=no`` (so ``#`` lines in run output are not turned into embed fields) added
    when the user did not set them."""
    base, hash_sign, fragment = url.partition("#")
    keys = {pair.partition("=")[0].lower() for pair in base.partition("?")[2].split("&") if pair}
    extra = [
        f"{key}={value}"
        for key, value in (("format", "markdown"), ("fields", "no"))
        if key not in keys
    ]
    if not extra:
        return url
    separator = "&" if "?" in base else ("?" if base.endswith("/") else "/?")
    if "?" in base and base.endswith(("?", "&")):
        separator = ""
    return base + separator + "&".join(extra) + hash_sign + fragment


def escape_mentions(text: str) -> str:
    """``text`` with every ``@`` followed by a zero-width space, so neither Discord nor
    Apprise's mention detection turns ``@everyone``, ``<@123>`` or an e-mail address in
    run output into a ping. (Apprise's ``?ping=`` URL parameter still pings on purpose.)"""
    return text.replace("@", "@\u200b")
