"""The Django app: reads the settings, imports the apps' ``tasks.py``, hooks cronwell's
migrations into ``migrate`` and starts the embedded scheduler where the project is served."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules

from cronwell.contrib.django import scheduler
from cronwell.contrib.django.guard import embedded_decision
from cronwell.store import Store

log = logging.getLogger("cronwell.contrib.django")


class CronwellConfig(AppConfig):
    name = "cronwell.contrib.django"
    label = "cronwell"
    verbose_name = "cronwell"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        config = scheduler.config()  # a bad CRONWELL dict stops every command, with a sentence
        post_migrate.connect(upgrade_tables, sender=self, dispatch_uid="cronwell_upgrade_tables")
        autodiscover_modules(config.tasks_module)
        if config.mode == "worker":
            log.info(
                "cronwell runs in worker mode: `manage.py cronwell serve` schedules",
                extra={"action": "django_scheduler_not_started", "pid": os.getpid()},
            )
            return
        decision = embedded_decision(sys.argv, os.environ, sys.modules)
        if decision.start:
            scheduler.start(decision.reason)
        else:
            log.info(
                "cronwell scheduler not started in process %d: %s",
                os.getpid(),
                decision.reason,
                extra={"action": "django_scheduler_not_started", "pid": os.getpid()},
            )


def upgrade_tables(using: str, verbosity: int = 1, **_kwargs: Any) -> None:
    """``post_migrate``: bring cronwell's tables up to date in its database, when ``migrate``
    runs on the connection cronwell uses (``CRONWELL['database']``, default ``default``).
    Through a store of its own, closed at once: a test database Django drops next must not
    keep a connection of cronwell's."""
    config = scheduler.config()
    if using != config.alias:
        return
    store = Store(scheduler.current_database_url(config))
    try:
        if store.is_current():
            return
        if verbosity >= 1:
            print(f"  Applying cronwell's migrations to {store.display_url}…", flush=True)
        store.upgrade()
    finally:
        store.close()
