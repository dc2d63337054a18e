"""The audiobook service's FastAPI app and its schedule: ``uvicorn audiobook.main:app``.

The seed's schedules stay in APScheduler's terms (``add_job(..., "cron", hour=2)``);
``AUDIOBOOK_EVERY_SECONDS=2`` fires every job every 2 seconds instead (the example's test).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException

from audiobook import tasks
from cronwell import Cronwell
from cronwell.contrib.fastapi import cronwell_app, cronwell_lifespan
from cronwell.settings import load_settings

JOBS = [  # id, name, handler, APScheduler cron fields: the seed's table
    ("mam_scraping", "Daily MAM Scraping", tasks.mam_scraping_task, {"hour": 2, "minute": 0}),
    ("top10_discovery", "Weekly Top-10 Discovery", tasks.top10_discovery_task,
     {"day_of_week": "sun", "hour": 3, "minute": 0}),
    ("metadata_full", "Monthly Full Metadata Refresh", tasks.metadata_full_refresh_task,
     {"day": 1, "hour": 4, "minute": 0}),
    ("metadata_new", "Weekly New Books Metadata Refresh", tasks.metadata_new_books_task,
     {"day_of_week": "sun", "hour": 4, "minute": 30}),
    ("series_completion", "Monthly Series Completion", tasks.series_completion_task,
     {"day": 2, "hour": 3, "minute": 0}),
    ("author_completion", "Monthly Author Completion", tasks.author_completion_task,
     {"day": 3, "hour": 3, "minute": 0}),
]  # fmt: skip
FAST = os.environ.get("AUDIOBOOK_EVERY_SECONDS")

# The seed's cleanup_old_tasks (daily at 01:00, records older than 30 days) is cronwell's
# maintenance task; its thread-safe singleton is this module's `cw`.
cw = Cronwell(
    settings=load_settings(
        database_url=os.environ.get("DATABASE_URL", "sqlite:///audiobook.db"),
        maintenance_cron="0 1 * * *",
        history_retention_days=30,
    ),
    declared=True,  # a job deleted from JOBS is deleted from the database at start
)
for job_id, name, handler, fields in JOBS:
    cw.add_job(
        handler, "cron", id=job_id, name=name, replace_existing=True,
        coalesce=True, max_instances=1, misfire_grace_time=900,  # the seed's job_defaults
        **({"second": f"*/{FAST}"} if FAST else fields),
    )  # fmt: skip


def require_admin(x_admin_token: Annotated[str, Header()] = "") -> None:
    expected = os.environ.get("AUDIOBOOK_ADMIN_TOKEN", "")
    if not expected or not secrets.compare_digest(x_admin_token, expected):
        raise HTTPException(status_code=401, detail="An admin token is needed.")


@asynccontextmanager
async def init_db(app: FastAPI) -> AsyncIterator[None]:
    yield  # the application's own start-up and tear-down (its database) go here


app = FastAPI(lifespan=cronwell_lifespan(cw, init_db))
app.mount("/scheduler", cronwell_app(cw, dependencies=[Depends(require_admin)]))
