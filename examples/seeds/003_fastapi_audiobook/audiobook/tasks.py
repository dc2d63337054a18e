"""The scheduled work of the audiobook service: one handler per job of the seed.

The seed wrapped each handler in a "task record" (created ``running``, updated with items
processed, succeeded and failed, or with the error and traceback). cronwell's run row is
that record: a handler only reports its counts, and an exception fails the run with its
traceback. The crawling itself is the application's; here each handler stands in for it.
"""

from __future__ import annotations

import asyncio

from cronwell import RunContext


async def _work(ctx: RunContext, what: str, items: int, failed: int = 0) -> None:
    ctx.logger.info("%s: %d items", what, items)
    await asyncio.sleep(0)  # the application's crawler or metadata client goes here
    ctx.report(processed=items, succeeded=items - failed, failed=failed)


async def mam_scraping_task(ctx: RunContext) -> None:
    """Crawl MAM for new guides and torrents."""
    await _work(ctx, "guides and torrents", 100, failed=5)


async def top10_discovery_task(ctx: RunContext) -> None:
    """Scrape the top-10 lists of the enabled genres."""
    await _work(ctx, "top-10 entries", 10)


async def metadata_full_refresh_task(ctx: RunContext) -> None:
    """Refresh the metadata of every book."""
    await _work(ctx, "books", 1200, failed=3)


async def metadata_new_books_task(ctx: RunContext) -> None:
    """Refresh the metadata of the books added in the last 7 days."""
    await _work(ctx, "new books", 12)


async def series_completion_task(ctx: RunContext) -> None:
    """Download the missing books of series."""
    await _work(ctx, "series", 8)


async def author_completion_task(ctx: RunContext) -> None:
    """Download the missing audiobooks of authors."""
    await _work(ctx, "authors", 5)
