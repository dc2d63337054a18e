"""Seed 001, the summary bot, rebuilt under ``examples/seeds/001_summary_bot``: its tasks
file applied as the bot applies it, on schedules of seconds, with loopback receivers for
Discord, the webhook and the mail, and a real folder for the archive."""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.receiver import Receiver, receiver_factory
from tests.support.waiting import wait_until

from cronwell import Cronwell, RunStatus
from cronwell.settings import load_settings

__all__ = ["receiver_factory"]  # fixtures used by pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seeds" / "001_summary_bot"
SCHEDULE_KEYS = ("cron", "every", "at", "daily", "weekly", "monthly", "schedule")


def _declared(archive: Path) -> list[dict[str, Any]]:
    """The example's tasks, each every second (the cleanup every two), its archive folder
    under the test's."""
    with (EXAMPLE / "tasks.toml").open("rb") as file:
        tasks: list[dict[str, Any]] = tomllib.load(file)["tasks"]
    for task in tasks:
        for key in SCHEDULE_KEYS:
            task.pop(key, None)
        task["every"] = "2s" if task["id"] == "cleanup-old-summaries" else "1s"
        kwargs = task["action"].get("kwargs", {})
        if "folder" in kwargs:
            kwargs["folder"] = str(archive)
    return tasks


@pytest.fixture
def bot(
    database_url: str,
    tmp_path: Path,
    receiver_factory: Callable[..., Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Cronwell, dict[str, Receiver], Path]]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setenv("SUMMARY_BOT_MESSAGES", str(EXAMPLE / "messages.json"))
    receivers = {name: receiver_factory() for name in ("dev-channel", "team-webhook", "team-mail")}
    archive = tmp_path / "summaries"
    channels: dict[str, str | list[str]] = {
        "dev-channel": receivers["dev-channel"].url("json"),
        "team-webhook": receivers["team-webhook"].url("json"),
        "team-mail": receivers["team-mail"].url("json") + "?format=html",
        "archive": f"file://{archive}/",
    }
    settings = load_settings(
        database_url=database_url, timezone="UTC", poll_interval=0.1, channels=channels
    )
    cw = Cronwell(settings=settings)
    cw.sync(_declared(archive), source="summary-bot")
    try:
        yield cw, receivers, archive
    finally:
        cw.close()


def test_the_summary_bot_delivers_its_summaries_everywhere(
    bot: tuple[Cronwell, dict[str, Receiver], Path],
) -> None:
    cw, receivers, archive = bot
    stale = archive / "daily-dev-summary-20250101T090000Z.md"
    archive.mkdir(parents=True)
    stale.write_text("an old summary\n")
    old = time.time() - 100 * 86400
    os.utime(stale, (old, old))
    cw.start()

    webhook = receivers["team-webhook"].wait_for(1)[0].json()
    assert webhook["title"].startswith("Weekly Team Update — ")
    assert json.loads(webhook["message"]).startswith("# Summary of <#123456789>")
    mail = receivers["team-mail"].wait_for(1)[0].json()
    assert "<h1>Summary of" in mail["message"] and "<strong>11 messages</strong>" in mail["message"]
    titles = wait_until(
        lambda: (
            {r.json()["title"].split(" — ")[0] for r in receivers["dev-channel"].requests}
            >= {"Daily Dev Channel Summary", "Weekly Team Update"}
            and {r.json()["title"].split(" — ")[0] for r in receivers["dev-channel"].requests}
        ),
        what="both summaries in the dev channel",
    )
    assert "Every 6 Hours Summary" not in titles  # one message: below min_messages
    daily = wait_until(
        lambda: [p for p in archive.glob("daily-dev-summary-*.md") if p != stale],
        what="an archived summary",
    )
    assert "**11 messages** from 4 people" in daily[0].read_text()
    wait_until(lambda: not stale.exists(), what="the cleanup of the old summary")

    cw.shutdown()
    quiet = cw.runs("quiet-channel-summary", limit=5)
    assert quiet and all(r.status is RunStatus.SUCCEEDED for r in quiet)
    assert all(r.counters.get("messages") == 1.0 for r in quiet)
    task = cw.get_task("weekly-team-update")
    assert (task.retries, task.retry_delay, task.max_consecutive_failures) == (3, 300.0, 3)
    sent = [n for n in cw.notifications(limit=200) if n.event == "result"]
    assert sent and {n.status for n in sent} == {"sent"}
