"""Composition: builds and wires everything from settings."""

from cronwell.runtime.compat import Job, apscheduler_cron_to_crontab
from cronwell.runtime.cronwell import Cronwell
from cronwell.runtime.tasks_file import read_tasks_file

__all__ = ["Cronwell", "Job", "apscheduler_cron_to_crontab", "read_tasks_file"]
