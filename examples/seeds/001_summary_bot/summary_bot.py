"""Summary Bot NG's scheduling (seed 001) on cronwell: the bot's own work — summarising a
channel, pruning old summaries — and nothing else. When and where is ``tasks.toml``;
retries, history, delivery to Discord, webhooks, e-mail and files are cronwell's.

Run it embedded (``python summary_bot.py``) or as a service (``cronwell serve --tasks
tasks.toml`` with this folder on ``PYTHONPATH``); see README.md.
"""

from __future__ import annotations

import json
import os
import signal
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from cronwell import Cronwell, RunContext

HERE = Path(__file__).resolve().parent


def _messages(channel_id: str) -> list[dict[str, Any]]:
    """The channel's recent messages; the seed read them from Discord, this stand-in from a
    JSON file (``SUMMARY_BOT_MESSAGES``: ``{"channel id": [{"author", "text"}, …]}``)."""
    path = Path(os.environ.get("SUMMARY_BOT_MESSAGES", HERE / "messages.json"))
    channels: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
    return channels.get(channel_id, [])


def summarize(
    ctx: RunContext,
    channel_id: str,
    summary_length: str = "detailed",
    min_messages: int = 10,
) -> str | None:
    """A Markdown summary of the channel, delivered by cronwell to the task's destinations;
    ``None`` (nothing delivered) when the channel had fewer than ``min_messages``."""
    messages = [m for m in _messages(channel_id) if not m.get("bot")]
    ctx.report(messages=len(messages))
    if len(messages) < min_messages:
        ctx.logger.info("only %d message(s) in %s: no summary", len(messages), channel_id)
        return None
    authors = Counter(m["author"] for m in messages)
    shown = messages if summary_length == "comprehensive" else messages[-5:]
    lines = [
        f"# Summary of <#{channel_id}>",
        "",
        f"**{len(messages)} messages** from {len(authors)} people; most active: "
        + ", ".join(f"{name} ({count})" for name, count in authors.most_common(3)),
        "",
        *(f"- **{m['author']}**: {m['text']}" for m in shown),
    ]
    return "\n".join(lines)


def cleanup(folder: str, retention_days: float = 90) -> int:
    """Delete the archived summaries older than ``retention_days``; return how many. (Run
    history is pruned by cronwell's own maintenance task.)"""
    cutoff = time.time() - retention_days * 86400
    old = [p for p in Path(folder).glob("*") if p.is_file() and p.stat().st_mtime < cutoff]
    for path in old:
        path.unlink()
    return len(old)


def main() -> None:
    """The bot's scheduler, embedded: the tasks of ``tasks.toml`` are the truth for the
    ``summary-bot`` source (a task removed from the file is removed at the next start)."""
    cw = Cronwell()
    with (HERE / "tasks.toml").open("rb") as file:
        cw.sync(tomllib.load(file)["tasks"], source="summary-bot")
    cw.start()
    print(cw.summary(), flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    cw.close()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
