"""The project's tests, run by Django's test runner (`manage.py test reports`).

They check cronwell from inside a Django process: the test runner starts no scheduler, the
tables live in the test database, a declared task runs and its run shows in the admin, the
admin's actions operate tasks, and actions run with Django's connection hygiene.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from typing import TypeVar

from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TransactionTestCase

import cronwell.contrib.django as cw_django
from cronwell.contrib.django.models import Run, Task
from cronwell.domain.run import RunStatus
from cronwell.store.tables import metadata

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value


class CronwellInTests(TransactionTestCase):
    def tearDown(self) -> None:
        cw_django.close()  # before Django drops the test database

    def test_the_test_runner_starts_no_scheduler_and_uses_the_test_database(self) -> None:
        cw = cw_django.get_cronwell()
        self.assertFalse(cw.running)
        test_name = str(connection.settings_dict["NAME"])
        self.assertIn(test_name.rsplit("/", 1)[-1], cw.store.display_url)
        # manage.py test ran migrate on the test database: cronwell's tables are there
        self.assertTrue(cw.store.has_schema())

    def test_a_declared_task_runs_and_its_run_shows_in_the_admin(self) -> None:
        cw = cw_django.start("started by the test")
        run = wait_for(
            lambda: next(iter(cw.runs("count_reports", status=RunStatus.SUCCEEDED)), None),
            "a successful run of count_reports",
        )
        admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)

        index = self.client.get("/admin/")
        self.assertContains(index, "/admin/cronwell/run/")
        self.assertContains(index, "/admin/cronwell/task/")

        listing = self.client.get("/admin/cronwell/run/", {"task": "count_reports"})
        self.assertContains(listing, f'href="/admin/cronwell/run/{run.id}/"')
        self.assertContains(listing, "cw-succeeded")
        other = self.client.get("/admin/cronwell/run/", {"status": "failed"})
        self.assertNotContains(other, f'href="/admin/cronwell/run/{run.id}/"')

        detail = self.client.get(f"/admin/cronwell/run/{run.id}/")
        self.assertContains(detail, "count_reports")
        self.assertContains(detail, "counted ")  # the run's captured output
        self.assertEqual(self.client.get("/admin/cronwell/run/999999999/").status_code, 404)

        tasks = self.client.get("/admin/cronwell/task/")
        self.assertContains(tasks, 'value="count_reports"')

    def test_admin_actions_pause_resume_and_run_now(self) -> None:
        cw = cw_django.start("started by the test")
        admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)
        url = "/admin/cronwell/task/"

        response = self.client.post(url, {"action": "pause", "_selected_action": "count_reports"})
        self.assertEqual(response.status_code, 302)
        self.assertFalse(cw.get_task("count_reports").enabled)
        self.assertContains(self.client.get(url), "paused")

        self.client.post(url, {"action": "resume", "_selected_action": "count_reports"})
        self.assertTrue(cw.get_task("count_reports").enabled)

        before = {run.id for run in cw.runs("count_reports", limit=1000)}
        self.client.post(url, {"action": "run_now", "_selected_action": "count_reports"})
        manual = wait_for(
            lambda: [
                r
                for r in cw.runs("count_reports", limit=1000)
                if r.id not in before and r.reason == "manual" and r.status.is_terminal
            ],
            "the queued manual run to finish",
        )
        self.assertEqual(manual[0].status, RunStatus.SUCCEEDED)

    def test_operating_needs_the_change_permission(self) -> None:
        cw = cw_django.start("started by the test")
        viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_task"))
        self.client.force_login(viewer)
        self.assertEqual(self.client.get("/admin/cronwell/task/").status_code, 200)
        self.assertEqual(self.client.get("/admin/cronwell/run/").status_code, 403)
        response = self.client.post(
            "/admin/cronwell/task/", {"action": "pause", "_selected_action": "count_reports"}
        )
        self.assertEqual(response.status_code, 403)
        self.assertTrue(cw.get_task("count_reports").enabled)

    def test_actions_close_old_connections_before_and_after(self) -> None:
        # The project keeps Django's default CONN_MAX_AGE = 0: Django closes a connection at
        # the end of each request, and cronwell around each run. run_now runs the task in
        # this thread, whose connection the query below opens.
        cw = cw_django.start("started by the test")
        User.objects.count()
        self.assertIsNotNone(connection.connection)
        run = cw.run_now("count_reports")
        self.assertEqual(run.status, RunStatus.SUCCEEDED, run.error)
        self.assertIn("'connection_open_at_start': False", run.return_value or "")
        self.assertIsNone(connection.connection)  # and closed after the run

    def test_call_command_runs_cronwells_command_line(self) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            call_command("cronwell", "db", "upgrade")
        self.assertIn("is up to date", out.getvalue())
        with self.assertRaises(CommandError) as raised:
            call_command("cronwell", "tasks", "show", "no-such-task")
        self.assertEqual(raised.exception.returncode, 3)  # cronwell's "not found"

    def test_placeholder_models_match_cronwell_tables(self) -> None:
        for model in (Task, Run):
            table = metadata.tables[model._meta.db_table]
            self.assertFalse(model._meta.managed)
            columns = {field.column for field in model._meta.concrete_fields}
            self.assertTrue(columns <= set(table.columns.keys()), (model, columns))
            (key,) = table.primary_key.columns
            self.assertEqual(model._meta.pk.column, key.name)
            python_type = int if model is Run else str
            self.assertIs(key.type.python_type, python_type)
