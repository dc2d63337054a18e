"""Composition: builds and wires everything from settings."""

from cronwell.runtime.compat import Job, apscheduler_cron_to_crontab
from cronwell.runtime.cronwell import Cronwell

__all__ = ["Cronwell", "Job", "apscheduler_cron_to_crontab"]
