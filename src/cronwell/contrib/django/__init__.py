"""cronwell in a Django project: ``"cronwell.contrib.django"`` in ``INSTALLED_APPS``.

* Settings come from ``CRONWELL = {...}`` in Django's settings
  (:mod:`cronwell.contrib.django.conf`); the database defaults to Django's ``default``
  connection and the zone to ``TIME_ZONE``.
* Tasks are declared with :func:`task` in an app's ``tasks.py``::

      from cronwell.contrib.django import task

      @task(cron="0 5 * * *")
      def generate_upcoming_game_sessions() -> None: ...

* ``manage.py migrate`` creates and upgrades cronwell's tables.
* In ``"embedded"`` mode the web server's processes run the scheduler (never a management
  command or runserver's autoreloader, see :mod:`cronwell.contrib.django.guard`); in
  ``"worker"`` mode only ``manage.py cronwell serve`` does.
* ``manage.py cronwell …`` is cronwell's command line on the project's database.
* The admin lists runs and operates tasks (:mod:`cronwell.contrib.django.admin`).

Django is an extra: without it, importing this module raises
:class:`~cronwell.errors.MissingExtraError` naming ``cronwell[django]``.
"""

from __future__ import annotations

from cronwell.contrib import require

require("django", "django")

from cronwell.contrib.django.scheduler import close, get_cronwell, start, task  # noqa: E402

__all__ = ["close", "get_cronwell", "start", "task"]
