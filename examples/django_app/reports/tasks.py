"""The project's scheduled tasks: declared here, found by cronwell at start-up."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from cronwell import RunContext
from cronwell.contrib.django import task
from reports.models import Report


@task(every=settings.REPORTS_EVERY)
def count_reports(ctx: RunContext) -> dict[str, object]:
    """Writes a report through the ORM. Returns whether a database connection of this
    thread was open when the run began (cronwell closes it after each run, as Django does
    after each request, so it is not)."""
    open_at_start = connection.connection is not None
    before = Report.objects.count()
    Report.objects.create(reports_before=before)
    ctx.logger.info("counted %d reports", before)
    return {"connection_open_at_start": open_at_start, "reports_before": before}
