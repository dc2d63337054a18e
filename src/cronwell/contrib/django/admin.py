"""cronwell in Django's admin: run history (read-only) and task operations.

The pages read and act through cronwell's service layer (:class:`~cronwell.service.TaskService`
of the project's Cronwell), the one the CLI and the HTTP API use, so the admin shows what
they show and needs no model of its own for the schema (the models in
:mod:`cronwell.contrib.django.models` only give the admin its entries and permissions).

* **Runs**: newest first, filtered by task, status and a range of days, a page at a time;
  each run's page shows its output, error, traceback, return value and counters. Viewing
  needs ``cronwell.view_run``.
* **Tasks**: schedule, state and next fire of each; the actions pause, resume and run now
  (queued for the scheduling instance, as the API's run-now is). Viewing needs
  ``cronwell.view_task``, acting ``cronwell.change_task``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from cronwell.contrib.django.models import Run, Task
from cronwell.contrib.django.scheduler import get_cronwell
from cronwell.domain.run import RunStatus
from cronwell.errors import CronwellError, NotFoundError
from cronwell.notify.redact import public_task
from cronwell.service import TaskService

PAGE_SIZE = 100
_ACTIONS = {
    "pause": "Pause the selected tasks",
    "resume": "Resume the selected tasks",
    "run_now": "Run the selected tasks now",
}


def _service() -> TaskService:
    return get_cronwell().service


class _ServiceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """An admin whose pages are views over cronwell's service: a list and a detail page,
    nothing added or deleted through Django."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name="{}_{}_changelist".format(*info)),
            path("<path:object_id>/", view(self.detail_view), name="{}_{}_change".format(*info)),
        ]

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        raise NotImplementedError

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": title,
            **extra,
        }


@admin.register(Run)
class RunAdmin(_ServiceAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = _RunQuery.read(request.GET, messages_to=request)
        service = _service()
        runs = service.list_runs(
            task_id=query.task,
            status=query.status,
            since=query.since,
            until=query.until,
            limit=PAGE_SIZE + 1,
            offset=(query.page - 1) * PAGE_SIZE,
        )
        has_next = len(runs) > PAGE_SIZE
        context = self._context(
            request,
            "Runs",
            runs=[_run_row(run) for run in runs[:PAGE_SIZE]],
            query=query,
            task_choices=_choices(
                query.task, [t.id for t in service.list_tasks()], query.link, "task"
            ),
            status_choices=_choices(
                query.status.value if query.status else None,
                [s.value for s in RunStatus],
                query.link,
                "status",
            ),
            previous_link=query.link(page=query.page - 1) if query.page > 1 else None,
            next_link=query.link(page=query.page + 1) if has_next else None,
            **(extra_context or {}),
        )
        return TemplateResponse(request, "cronwell/admin/run_list.html", context)

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            run = _service().get_run(int(unquote(object_id)))
        except (ValueError, NotFoundError):
            raise Http404(f"No run {object_id}") from None
        context = self._context(
            request,
            f"Run {run.id} of {run.task_id}",
            run=run,
            row=_run_row(run),
            task_url=_task_url(run.task_id),
        )
        return TemplateResponse(request, "cronwell/admin/run_detail.html", context)


@admin.register(Task)
class TaskAdmin(_ServiceAdmin):
    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method == "POST":
            return self._act(request)
        if not self.has_view_permission(request):
            raise PermissionDenied
        service = _service()
        now = timezone.now()
        tasks = [
            {
                "task": task,
                "url": _task_url(task.id),
                "runs_url": _runs_url(task=task.id),
                "schedule": task.schedule.describe(),
                "next_fire": task.next_fire_after(now) if task.enabled else None,
            }
            for task in service.list_tasks()
        ]
        context = self._context(
            request,
            "Tasks",
            tasks=tasks,
            actions=_ACTIONS,
            can_act=self.has_change_permission(request),
            **(extra_context or {}),
        )
        return TemplateResponse(request, "cronwell/admin/task_list.html", context)

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        service = _service()
        task_id = unquote(object_id)
        try:
            task = service.get(task_id)
        except NotFoundError:
            raise Http404(f"No task {task_id}") from None
        preview = task.preview(5, timezone.now()) if task.enabled else None
        context = self._context(
            request,
            f"Task {task.id}",
            task=task,
            schedule=task.schedule.describe(),
            preview=preview,
            runs=[_run_row(run) for run in service.list_runs(task_id=task.id, limit=10)],
            runs_url=_runs_url(task=task.id),
            definition=json.dumps(public_task(task), indent=2, default=str),
            actions=_ACTIONS,
            can_act=self.has_change_permission(request),
        )
        return TemplateResponse(request, "cronwell/admin/task_detail.html", context)

    def _act(self, request: HttpRequest) -> HttpResponse:
        """Apply the chosen action to the selected tasks, then show the list again."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        action = request.POST.get("action", "")
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        back = HttpResponseRedirect(_back(request))
        if action not in _ACTIONS:
            messages.warning(request, "Choose an action: pause, resume or run now.")
            return back
        if not selected:
            messages.warning(request, "Select the tasks to act on.")
            return back
        service = _service()
        for task_id in selected:
            try:
                if action == "pause":
                    service.pause(task_id)
                    messages.success(request, f"{task_id}: paused.")
                elif action == "resume":
                    service.resume(task_id)
                    messages.success(request, f"{task_id}: resumed.")
                else:
                    run = service.queue_run(task_id)
                    messages.success(
                        request,
                        f"{task_id}: run {run.id} queued; the scheduling instance starts it.",
                    )
            except CronwellError as exc:
                messages.error(request, f"{task_id}: {exc}")
        return back


@dataclass(frozen=True, slots=True)
class _RunQuery:
    """The run list's filters, as read from the query string."""

    task: str | None = None
    status: RunStatus | None = None
    since_day: date | None = None
    until_day: date | None = None
    page: int = 1

    @classmethod
    def read(cls, params: Mapping[str, str], *, messages_to: HttpRequest) -> _RunQuery:
        status_text = params.get("status") or None
        status = None
        if status_text is not None:
            try:
                status = RunStatus(status_text)
            except ValueError:
                known = ", ".join(s.value for s in RunStatus)
                messages.error(messages_to, f"No status {status_text!r}; one of {known}.")
        days = {}
        for key in ("since", "until"):
            text = params.get(key) or None
            try:
                days[key] = date.fromisoformat(text) if text else None
            except ValueError:
                messages.error(messages_to, f"{key} {text!r} is not a day such as 2026-11-23.")
                days[key] = None
        try:
            page = max(1, int(params.get("page") or 1))
        except ValueError:
            page = 1
        return cls(
            task=params.get("task") or None,
            status=status,
            since_day=days["since"],
            until_day=days["until"],
            page=page,
        )

    @property
    def since(self) -> datetime | None:
        """The start of ``since_day`` in the site's zone."""
        return _midnight(self.since_day) if self.since_day else None

    @property
    def until(self) -> datetime | None:
        """The end of ``until_day`` (the next midnight) in the site's zone."""
        return _midnight(self.until_day + timedelta(days=1)) if self.until_day else None

    def params(self) -> dict[str, str]:
        values = {
            "task": self.task,
            "status": self.status.value if self.status else None,
            "since": self.since_day.isoformat() if self.since_day else None,
            "until": self.until_day.isoformat() if self.until_day else None,
            "page": str(self.page) if self.page > 1 else None,
        }
        return {key: value for key, value in values.items() if value is not None}

    def link(self, **changes: Any) -> str:
        """The query string of this list with ``changes`` (None removes a filter); a
        change of filter goes back to the first page."""
        values: dict[str, Any] = {**self.params(), **changes}
        if "page" not in changes:
            values.pop("page", None)
        return "?" + urlencode({k: v for k, v in values.items() if v not in (None, "", 1)})


def _back(request: HttpRequest) -> str:
    """Where a form posted to the task list goes back to: its ``next`` page (a task's own
    page) when that is on this site, else the list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return request.get_full_path()


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()), timezone.get_current_timezone())


def _choices(
    current: str | None, values: Sequence[str], link: Any, key: str
) -> list[dict[str, Any]]:
    """The entries of one filter: "All" and each value, with its link and whether chosen."""
    entries = [{"label": "All", "link": link(**{key: None}), "selected": current is None}]
    entries += [
        {"label": value, "link": link(**{key: value}), "selected": value == current}
        for value in values
    ]
    if current is not None and current not in values:  # a deleted task's history
        entries.append({"label": current, "link": link(**{key: current}), "selected": True})
    return entries


def _run_row(run: Any) -> dict[str, Any]:
    error = (run.error or "").strip().splitlines()
    return {
        "run": run,
        "url": reverse("admin:cronwell_run_change", args=[quote(str(run.id))]),
        "task_url": _task_url(run.task_id),
        "status": run.status.value,
        "error_line": error[0] if error else "",
    }


def _task_url(task_id: str) -> str:
    return reverse("admin:cronwell_task_change", args=[quote(task_id)])


def _runs_url(**filters: str) -> str:
    return reverse("admin:cronwell_run_changelist") + "?" + urlencode(filters)
