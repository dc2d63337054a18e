"""Two placeholder models, so that the admin lists cronwell's tasks and runs on its index and
Django's permissions (``cronwell.view_run``, ``cronwell.view_task``, ``cronwell.change_task``)
can be granted to staff.

They map no column but the key: the admin reads tasks and runs through cronwell's service
layer, which owns the schema (``cronwell/store/tables.py``), so nothing here can drift from
it. They are unmanaged: Django never creates, alters, flushes or drops these tables;
cronwell's own migrations do (run by ``manage.py migrate``).
"""

from __future__ import annotations

from django.db import models


class Task(models.Model):
    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=200)

    class Meta:
        managed = False
        db_table = "cronwell_tasks"
        default_permissions = ("view", "change")
        verbose_name = "task"

    def __str__(self) -> str:
        return str(self.id)


class Run(models.Model):
    id: models.BigIntegerField[int, int] = models.BigIntegerField(primary_key=True)

    class Meta:
        managed = False
        db_table = "cronwell_runs"
        default_permissions = ("view",)
        verbose_name = "run"

    def __str__(self) -> str:
        return f"run {self.id}"
