"""The Discord execute-webhook payload, checked against Discord's documented embed limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import apprise
import pytest

from cronwell.domain.alerts import Alert, AlertEvent
from cronwell.notify import Rendered, apprise_asset, discord_payload, render
from cronwell.notify.discord import (
    COLOURS,
    escape_mentions,
    is_discord_url,
    prepare_discord_url,
    text_length,
    truncate,
)

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
LIMITS = {"title": 256, "description": 4096, "fields": 25, "name": 256, "value": 1024}
TOTAL = 6000


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def validate(payload: dict[str, Any]) -> dict[str, Any]:
    """Check ``payload`` against Discord's Execute Webhook shape and limits; return its
    embed."""
    json.dumps(payload)  # serialisable as is
    assert set(payload) == {"embeds"}
    assert isinstance(payload["embeds"], list)
    assert 1 <= len(payload["embeds"]) <= 10
    (embed,) = payload["embeds"]
    assert set(embed) <= {"title", "description", "color", "fields", "timestamp", "url"}
    assert isinstance(embed["title"], str)
    assert utf16(embed["title"]) <= LIMITS["title"]
    assert isinstance(embed["description"], str)
    assert utf16(embed["description"]) <= LIMITS["description"]
    assert isinstance(embed["color"], int)
    assert not isinstance(embed["color"], bool)
    assert 0 <= embed["color"] <= 0xFFFFFF
    assert isinstance(embed["fields"], list)
    assert len(embed["fields"]) <= LIMITS["fields"]
    total = utf16(embed["title"]) + utf16(embed["description"])
    for item in embed["fields"]:
        assert set(item) == {"name", "value", "inline"}
        assert isinstance(item["name"], str)
        assert isinstance(item["value"], str)
        assert isinstance(item["inline"], bool)
        assert 0 < utf16(item["name"]) <= LIMITS["name"]
        assert 0 < utf16(item["value"]) <= LIMITS["value"]
        total += utf16(item["name"]) + utf16(item["value"])
    assert total <= TOTAL
    parsed = datetime.fromisoformat(embed["timestamp"])
    assert parsed.tzinfo is not None
    if "url" in embed:
        assert embed["url"].startswith(("http://", "https://"))
    return embed  # type: ignore[no-any-return]


def alert(**kwargs: Any) -> Alert:
    values: dict[str, Any] = {
        "event": AlertEvent.FAILED,
        "title": "nightly-backup failed",
        "task_id": "nightly-backup",
        "schedule": "every day at 02:00",
        "occurrence": datetime(2024, 5, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))),
        "attempt": 2,
        "duration": 12.5,
        "error": "RuntimeError: disk full",
        "link": "https://cronwell.example/runs/7",
    }
    values.update(kwargs)
    return Alert(**values)


def test_an_ordinary_failure() -> None:
    a = alert()
    rendered = render(a)
    embed = validate(discord_payload(a, rendered))
    assert embed["title"] == "❌ nightly-backup failed"
    assert embed["description"] == rendered.body
    assert embed["color"] == 0xFF0000
    assert embed["url"] == "https://cronwell.example/runs/7"
    assert embed["timestamp"] == "2024-05-01T00:00:00+00:00"
    fields = {f["name"]: f for f in embed["fields"]}
    assert fields["Task"] == {"name": "Task", "value": "nightly-backup", "inline": True}
    assert fields["Attempt"]["value"] == "2"
    assert fields["Error"]["inline"] is False


@pytest.mark.parametrize(
    ("event", "colour"),
    [
        (AlertEvent.FAILED, 0xFF0000),
        (AlertEvent.TIMED_OUT, 0xFF0000),
        (AlertEvent.RECOVERED, 0x00FF00),
        (AlertEvent.SUCCEEDED, 0x00FF00),
        (AlertEvent.MISSED, 0xFFA500),
        (AlertEvent.RETRYING, 0xFFA500),
        (AlertEvent.STARTED, 0x3498DB),
        (AlertEvent.SUMMARY, 0x3498DB),
    ],
)
def test_colours_follow_the_seed(event: AlertEvent, colour: int) -> None:
    a = alert(event=event)
    assert validate(discord_payload(a, render(a)))["color"] == colour


def test_long_inputs_are_cut_to_discords_limits() -> None:
    a = alert(
        task_id="t" * 2000,
        schedule="s" * 3000,
        error="E" * 5000,
        details={f"key {i} " + "k" * 300: "🔥" * 900 for i in range(40)},
    )
    rendered = Rendered(title="🔥" * 400, body="b" * 9000 + "🔥" * 100, notify_type="failure")
    embed = validate(discord_payload(a, rendered))
    assert embed["title"].endswith("…")
    assert embed["fields"], "some fields survive"
    assert all(utf16(f["value"]) <= 1024 for f in embed["fields"])


def test_fields_give_way_before_the_description() -> None:
    a = alert(details={f"d{i}": "v" * 1024 for i in range(10)})
    rendered = Rendered(title="x" * 256, body="y" * 4096, notify_type="info")
    embed = validate(discord_payload(a, rendered))
    assert embed["description"] == "y" * 4096
    names = [f["name"] for f in embed["fields"]]
    assert names[:6] == ["Task", "Schedule", "Occurrence", "Attempt", "Duration", "Error"]
    assert names[6:] == ["d0"]  # 256 + 4096 + the six + one detail; a second would not fit


def test_many_small_fields_are_capped_at_25() -> None:
    a = alert(details={f"k{i}": f"v{i}" for i in range(60)})
    embed = validate(discord_payload(a, render(a)))
    assert len(embed["fields"]) == 25


def test_a_link_that_is_not_absolute_is_left_out() -> None:
    a = alert(link="/runs/7")
    assert "url" not in validate(discord_payload(a, render(a)))


def test_timestamp_falls_back_to_the_argument_then_now() -> None:
    a = alert(occurrence=None)
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert validate(discord_payload(a, render(a), timestamp=when))["timestamp"] == (
        "2024-01-02T03:04:05+00:00"
    )
    assert validate(discord_payload(a, render(a)))["timestamp"]


def test_truncate_counts_utf16_units() -> None:
    assert text_length("🔥") == 2
    assert truncate("🔥🔥🔥", 5) == "🔥🔥…"
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "ab…"
    assert truncate("abcd", 0) == ""


def test_the_apprise_asset_uses_the_same_colours() -> None:
    asset = apprise_asset()
    assert asset.color(apprise.NotifyType.SUCCESS, int) == COLOURS["success"] == 0x00FF00
    assert asset.color(apprise.NotifyType.FAILURE, int) == COLOURS["failure"] == 0xFF0000
    assert asset.color(apprise.NotifyType.WARNING, int) == COLOURS["warning"] == 0xFFA500
    assert asset.color(apprise.NotifyType.INFO, int) == COLOURS["info"] == 0x3498DB
    assert asset.async_mode is False


@pytest.mark.parametrize(
    ("url", "prepared"),
    [
        ("discord://1/tok", "discord://1/tok/?format=markdown&fields=no"),
        ("discord://1/tok/", "discord://1/tok/?format=markdown&fields=no"),
        ("discord://1/tok/?avatar=no", "discord://1/tok/?avatar=no&format=markdown&fields=no"),
        ("discord://1/tok/?format=text", "discord://1/tok/?format=text&fields=no"),
        ("discord://1/tok/?FORMAT=html&fields=yes", "discord://1/tok/?FORMAT=html&fields=yes"),
        (
            "https://discord.com/api/webhooks/1/tok",
            "https://discord.com/api/webhooks/1/tok/?format=markdown&fields=no",
        ),
    ],
)
def test_prepare_discord_url(url: str, prepared: str) -> None:
    assert is_discord_url(url)
    assert prepare_discord_url(url) == prepared
    assert apprise.Apprise.instantiate(prepared) is not None


def test_other_urls_are_not_discord() -> None:
    assert not is_discord_url("json://discord.com/x")
    assert not is_discord_url("https://example.com/api/webhooks/1/tok")


def test_escape_mentions() -> None:
    assert escape_mentions("@everyone <@123> a@b.c") == "@\u200beveryone <@\u200b123> a@\u200bb.c"
