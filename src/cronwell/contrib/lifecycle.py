"""Starting and stopping a :class:`~cronwell.Cronwell` with a host application's event loop.

The integrations (a FastAPI lifespan, a discord.py cog) run a Cronwell as ``async with cw:``
does: it starts from inside the application's running loop, so async task functions run on
that loop, and stops with :meth:`~cronwell.Cronwell.shutdown`, so the same Cronwell can
start again with the application (a test client entering the app once per test). Both
blocking calls run in a worker thread: the loop keeps serving meanwhile, and the runs
finishing during the shutdown grace can still use it.
"""

from __future__ import annotations

import asyncio
import logging

from cronwell.runtime import Cronwell

log = logging.getLogger(__name__)

#: Seconds a stop waits for alerts queued so far (the "stopped" notice among them).
ALERT_FLUSH = 5.0


async def start_on_loop(cw: Cronwell) -> None:
    """Start ``cw`` from inside the running loop (its async task functions run there)."""
    await cw.start_async()


async def stop_on_loop(cw: Cronwell, *, flush: float = ALERT_FLUSH) -> None:
    """Shut ``cw`` down (running runs get the shutdown grace; nothing is left ``running``),
    then wait up to ``flush`` seconds for the alerts queued so far to be delivered: the
    application may close what they go through (its connection, its process) next."""
    await asyncio.to_thread(cw.shutdown)
    delivered = await asyncio.to_thread(cw.alerting.notifier.flush, flush)
    if not delivered:
        log.warning(
            "alerts were still being delivered when the application stopped",
            extra={"action": "alerts_pending_at_stop"},
        )
