"""Functions behind the example tasks of ``make demo`` (examples/tasks.toml)."""

from __future__ import annotations

import logging
import random
from pathlib import Path

from cronwell import RunContext


def count_words(ctx: RunContext, root: str = ".") -> int:
    """Count the words in the Markdown files under ``root`` and report counters, as a
    batch job reporting processed/succeeded/failed would."""
    processed = failed = words = 0
    for path in Path(root).glob("*.md"):
        processed += 1
        try:
            words += len(path.read_text(encoding="utf-8").split())
        except OSError:
            failed += 1
    ctx.logger.info("counted %d words in %d files", words, processed)
    ctx.report(processed=processed, succeeded=processed - failed, failed=failed)
    return words


def flaky(ctx: RunContext) -> str:
    """Fails about one time in three, so the history shows failures next to successes."""
    if random.random() < 1 / 3:
        raise RuntimeError("the upstream service did not answer (simulated)")
    print(f"occurrence {ctx.occurrence_key} went fine")
    return "ok"


def morning_report() -> None:
    logging.getLogger(__name__).info("good morning: the weekday report would be sent now")
