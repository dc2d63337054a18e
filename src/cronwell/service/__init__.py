"""Use cases: create, update, pause, resume, run and delete tasks; query runs."""

from cronwell.service.tasks import TaskService

__all__ = ["TaskService"]
