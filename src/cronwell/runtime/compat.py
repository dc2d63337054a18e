"""APScheduler-style calls, so code written for APScheduler 3 (and for the home-made
wrappers around it) keeps working on cronwell.

Two readings of "cron" live side by side, on purpose:

* ``add_job(func, "cron", hour=2, day_of_week="sun")`` — keyword fields keep APScheduler's
  meaning, because that is what their authors meant: ``day_of_week`` 0 is Monday, and fields
  below the smallest one given default to their minimum (``hour=2`` means 02:00:00). cronwell
  translates them into an equivalent crontab expression.
* ``add_cron_job(func, "0 8 * * 1-5", ...)`` and every crontab string — crontab's meaning:
  day-of-week 0 and 7 are Sunday, so ``1-5`` is Monday to Friday.

Naive datetimes passed here (``run_date=datetime.now() + ...``) are read in the
scheduler's time zone, as APScheduler reads them; everywhere else cronwell rejects them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cronwell.domain.alerts import AlertEvent, AlertTarget
from cronwell.domain.schedule import (
    AnySchedule,
    CronSchedule,
    IntervalSchedule,
    OnceSchedule,
    Schedule,
    cron,
)
from cronwell.domain.task import SYSTEM_SOURCE, Task
from cronwell.domain.timezones import zone_key
from cronwell.errors import InvalidScheduleError
from cronwell.runtime.defaults import TaskDefaults, coalesce_policy, misfire_grace_of
from cronwell.runtime.functions import display_name, function_reference

if TYPE_CHECKING:
    from cronwell.runtime.declaring import DeclarationChecks
    from cronwell.service import TaskService

_UNSET: Any = object()
# APScheduler's CronTrigger field order and the defaults of fields left out below the
# smallest one given.
_CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
_CRON_DEFAULTS = {
    "year": "*",
    "month": "1",
    "day": "1",
    "week": "*",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}
SEND_ALERT_TARGET = AlertTarget(
    to="dev",
    events=frozenset({AlertEvent.SUCCEEDED, AlertEvent.FAILED, AlertEvent.TIMED_OUT}),
)


@dataclass
class Job:
    """What ``get_job``/``get_jobs``/``add_job`` return: a view of one task in APScheduler's
    terms. ``pause()``, ``resume()`` and ``remove()`` act on the task."""

    id: str
    name: str
    func_ref: str | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    trigger: str
    next_run_time: datetime | None
    _compat: ApschedulerCompat = field(repr=False)

    def pause(self) -> Job:
        self._compat.pause_job(self.id)
        return self

    def resume(self) -> Job:
        self._compat.resume_job(self.id)
        return self

    def remove(self) -> None:
        self._compat.remove_job(self.id)


class ApschedulerCompat:
    """Mixin for :class:`cronwell.Cronwell` providing the APScheduler 3 method names and the
    seed projects' ``add_cron_job``/``add_date_job``/``add_interval_job``."""

    timezone: str
    _task_defaults: TaskDefaults
    _checks: DeclarationChecks

    if TYPE_CHECKING:

        @property
        def service(self) -> TaskService: ...
        def add_task(self, task: Task | str, **kwargs: Any) -> Task: ...
        def pause(self, task_id: str) -> Task: ...
        def resume(self, task_id: str) -> Task: ...
        def remove(self, task_id: str) -> None: ...

    # -- APScheduler 3 ----------------------------------------------------------------------

    def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: Any = None,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: float | None = _UNSET,
        coalesce: bool = _UNSET,
        max_instances: int = _UNSET,
        next_run_time: datetime | None = _UNSET,
        jobstore: str = "default",
        executor: str = "default",
        replace_existing: bool = False,
        **trigger_args: Any,
    ) -> Job:
        """APScheduler 3's ``add_job``. ``trigger`` is ``"cron"``, ``"interval"``,
        ``"date"``, an APScheduler trigger object, or a cronwell schedule. ``jobstore`` and
        ``executor`` are accepted and ignored (cronwell has one store and one dispatcher).
        ``max_instances``, ``misfire_grace_time`` and ``coalesce`` keep APScheduler's
        meaning (see :mod:`cronwell.runtime.defaults`); left out, they come from the
        scheduler's ``job_defaults`` or ``task_defaults``, else cronwell's defaults.

        A ``CronTrigger`` made without a zone runs in the scheduler's zone, as a
        ``"cron"`` trigger given by name does (APScheduler 3 fills in the machine's zone,
        which cronwell cannot tell from that zone given on purpose: pass ``timezone=`` to
        the trigger when the machine's zone is meant).

        A ``"date"`` job (and one with no trigger, which runs now) is removed once its run
        is over, as APScheduler removes it once it fired: a one-off with
        ``remove_after_run=True``, whose run stays in the history. A cronwell ``once()``
        schedule given as the trigger keeps its own setting."""
        del jobstore, executor
        schedule, extra = self._schedule_for(trigger, trigger_args)
        crontab = extra.pop("crontab", None)
        fields: dict[str, Any] = dict(extra)
        if name:
            fields["name"] = name
        if max_instances is not _UNSET:
            fields["max_instances"] = max_instances
        if misfire_grace_time is not _UNSET:
            fields["misfire_grace"] = misfire_grace_of(misfire_grace_time)
        if coalesce is not _UNSET:
            grace = fields.get("misfire_grace", self._task_defaults.fields.get("misfire_grace"))
            fields.update(coalesce_policy(coalesce, grace))
        if next_run_time is None:  # APScheduler: added paused
            fields["enabled"] = False
        elif next_run_time is not _UNSET:
            schedule = self._first_run_at(schedule, self._aware(next_run_time))
        task_id = id or _default_id(func, schedule, args, kwargs)
        if crontab is not None:
            self._checks.warn_apscheduler_weekdays(task_id, crontab, schedule.expression())
        task = self.add_task(
            task_id,
            schedule=schedule,
            func=func,
            args=tuple(args or ()),
            kwargs=dict(kwargs or {}),
            replace_existing=replace_existing,
            **fields,
        )
        return self._job(task)

    def get_jobs(self) -> list[Job]:
        """The application's tasks as jobs: every task but cronwell's own (the
        maintenance task), which APScheduler code never added."""
        return [self._job(t) for t in self.service.list_tasks() if t.source != SYSTEM_SOURCE]

    def get_job(self, job_id: str) -> Job | None:
        task = self.service.find(job_id)
        return None if task is None else self._job(task)

    def pause_job(self, job_id: str) -> Job:
        return self._job(self.pause(job_id))

    def resume_job(self, job_id: str) -> Job:
        return self._job(self.resume(job_id))

    def remove_job(self, job_id: str) -> None:
        self.remove(job_id)

    def remove_all_jobs(self) -> None:
        """Remove every task :meth:`get_jobs` lists (their run history stays)."""
        for task in self.service.list_tasks():
            if task.source != SYSTEM_SOURCE:
                self.remove(task.id)

    # -- the Discord bot seed's wrapper ---------------------------------------------------------

    def add_cron_job(
        self,
        func: Callable[..., Any],
        cron_expression: str,
        job_id: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        send_alert: bool = False,
    ) -> Job:
        """Schedule ``func`` on a crontab expression (crontab's meaning). ``send_alert`` tags
        the task ``send_alert`` for the alerting layer."""
        return self._seed_job(func, cron(cron_expression), job_id, args, kwargs, send_alert)

    def add_date_job(
        self,
        func: Callable[..., Any],
        run_date: datetime | str,
        job_id: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        send_alert: bool = False,
    ) -> Job:
        """Run ``func`` once at ``run_date`` (naive means the scheduler's zone); the task
        is removed once that run is over (the run stays in the history), as the
        APScheduler date job under the seed's wrapper was."""
        schedule = OnceSchedule(at=self._aware(run_date), remove_after_run=True)
        return self._seed_job(func, schedule, job_id, args, kwargs, send_alert)

    def add_interval_job(
        self,
        func: Callable[..., Any],
        job_id: str,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        weeks: float = 0,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        send_alert: bool = False,
    ) -> Job:
        """Run ``func`` every fixed period."""
        schedule = IntervalSchedule(
            seconds=seconds, minutes=minutes, hours=hours, days=days, weeks=weeks
        )
        return self._seed_job(func, schedule, job_id, args, kwargs, send_alert)

    def _seed_job(
        self,
        func: Callable[..., Any],
        schedule: AnySchedule,
        job_id: str,
        args: Sequence[Any],
        kwargs: dict[str, Any] | None,
        send_alert: bool,
    ) -> Job:
        task = self.add_task(
            job_id,
            schedule=schedule,
            func=func,
            args=tuple(args),
            kwargs=dict(kwargs or {}),
            # send_alert=True: the seed's dev-channel notice of every completion and error
            alerts=[SEND_ALERT_TARGET] if send_alert else [],
            replace_existing=True,
        )
        return self._job(task)

    # -- translation ----------------------------------------------------------------------

    def _job(self, task: Task) -> Job:
        action = task.action
        func_ref = getattr(action, "func", None)
        nxt = task.next_fire_after(self.service_now()) if task.enabled else None
        return Job(
            id=task.id,
            name=task.name,
            func_ref=func_ref,
            args=tuple(getattr(action, "args", ())),
            kwargs=dict(getattr(action, "kwargs", {})),
            trigger=task.schedule.expression(),
            next_run_time=nxt.astimezone(task.tz) if nxt else None,
            _compat=self,
        )

    def service_now(self) -> datetime:
        clock = getattr(self, "clock", None)
        return clock.now() if clock is not None else datetime.now(ZoneInfo("UTC"))

    @staticmethod
    def _first_run_at(schedule: AnySchedule, when: datetime) -> AnySchedule:
        """Honour ``add_job(next_run_time=...)``: the one-off's time, or the instant an
        interval counts from. A cron schedule cannot start off its own times."""
        if isinstance(schedule, OnceSchedule):
            return schedule.model_copy(update={"at": when})
        if isinstance(schedule, IntervalSchedule):
            return schedule.model_copy(update={"anchor": when})
        raise InvalidScheduleError(
            "next_run_time cannot move a cron schedule's first run off its own times; "
            "leave it out, or run the task now with run_now()."
        )

    def _aware(self, value: datetime | str, zone_name: str | None = None) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidScheduleError(
                    f"{value!r} is not a date and time; write e.g. '2026-07-15 14:30:00'."
                ) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(zone_name or self.timezone))
        return value

    def _schedule_for(
        self, trigger: Any, trigger_args: dict[str, Any]
    ) -> tuple[AnySchedule, dict[str, Any]]:
        """The schedule and extra task fields (timezone, dates, jitter) for APScheduler's
        trigger forms."""
        args = dict(trigger_args)
        if isinstance(trigger, CronSchedule | IntervalSchedule | OnceSchedule):
            return trigger, {}
        if isinstance(trigger, Schedule):
            raise InvalidScheduleError(f"Unsupported schedule {trigger!r}")
        crontab = None
        if trigger is not None and not isinstance(trigger, str):
            trigger, args, crontab = _from_trigger_object(trigger)
        given_zone = args.pop("timezone", None)  # a name or a zone object (pytz, ZoneInfo)
        zone_name = zone_key(given_zone, where="timezone") if given_zone else self.timezone
        extra: dict[str, Any] = {"timezone": zone_name}
        if crontab is not None:
            extra["crontab"] = crontab  # for add_job's warning, not a task field
        for key in ("start_date", "end_date"):
            value = args.pop(key, None)
            if value is not None:
                extra[key] = self._aware(value, zone_name)
        jitter = args.pop("jitter", None)
        if jitter:
            extra["jitter"] = jitter
        if trigger in (None, "date"):
            run_date = args.pop("run_date", None)
            _no_leftovers(trigger or "date", args)
            at = self._aware(run_date, zone_name) if run_date is not None else self.service_now()
            # APScheduler drops a date job once it has fired; the run stays in the history
            return OnceSchedule(at=at, remove_after_run=True), extra
        if trigger == "interval":
            anchor = extra.pop("start_date", None)
            periods = {
                k: args.pop(k)
                for k in ("weeks", "days", "hours", "minutes", "seconds")
                if k in args
            }
            _no_leftovers("interval", args)
            return IntervalSchedule(anchor=anchor, **periods), extra
        if trigger == "cron":
            return cron(apscheduler_cron_to_crontab(args)), extra
        raise InvalidScheduleError(
            f"Unknown trigger {trigger!r}; use 'cron', 'interval', 'date' or a cronwell schedule."
        )


def _from_trigger_object(trigger: Any) -> tuple[str, dict[str, Any], str | None]:
    """Read an APScheduler 3 trigger object by duck typing (only the engine imports
    APScheduler): ``CronTrigger``, ``IntervalTrigger`` and ``DateTrigger``. The third item
    is the crontab expression a ``CronTrigger.from_crontab`` with weekday numbers was
    made from, whose day of week APScheduler reads with Monday = 0 (``None`` otherwise)."""
    kind = type(trigger).__name__
    common: dict[str, Any] = {}
    zone = getattr(trigger, "timezone", None)
    if zone is not None and not (kind == "CronTrigger" and _zone_left_out(zone)):
        common["timezone"] = zone  # read back to its name by _schedule_for
    for key in ("start_date", "end_date", "jitter"):
        value = getattr(trigger, key, None)
        if value is not None:
            common[key] = value
    if kind == "CronTrigger":
        fields = {f.name: str(f) for f in trigger.fields if not f.is_default}
        return "cron", {**fields, **common}, _crontab_of(fields)
    if kind == "IntervalTrigger":
        interval: timedelta = trigger.interval
        return "interval", {"seconds": interval.total_seconds(), **common}, None
    if kind == "DateTrigger":
        return "date", {"run_date": trigger.run_date, **common}, None
    raise InvalidScheduleError(
        f"Cannot read a {kind} trigger; use 'cron', 'interval', 'date' or a cronwell schedule."
    )


def _zone_left_out(zone: Any) -> bool:
    """True for the zone APScheduler 3 gives a ``CronTrigger`` made without one: the
    machine's, the very object tzlocal caches."""
    import tzlocal

    return zone is tzlocal.get_localzone()


# the fields CronTrigger.from_crontab() gives, and no other
_FROM_CRONTAB = ("minute", "hour", "day", "month", "day_of_week")


def _crontab_of(fields: dict[str, str]) -> str | None:
    """The crontab expression a ``CronTrigger.from_crontab`` was made from, when its day of
    week has numbers (names mean the same day to APScheduler and crontab)."""
    if set(fields) != set(_FROM_CRONTAB) or not re.search(r"\d", fields["day_of_week"]):
        return None
    return " ".join(fields[name] for name in _FROM_CRONTAB)


def _no_leftovers(trigger: str, args: dict[str, Any]) -> None:
    if args:
        raise InvalidScheduleError(
            f"Unknown argument(s) for the {trigger!r} trigger: {', '.join(sorted(args))}."
        )


def apscheduler_cron_to_crontab(fields: dict[str, Any]) -> str:
    """Translate APScheduler 3 ``CronTrigger`` keyword fields into a crontab expression with
    the same fire times.

    APScheduler numbers weekdays from Monday = 0; crontab from Sunday = 0, so each number
    moves up by one (Sunday becomes 7, which crontab also reads as Sunday). Fields left out
    below the smallest one given take their minimum; above it, ``*``. ``year`` and ``week``
    restrictions, and ``day`` and ``day_of_week`` restricted together (APScheduler requires
    both to match; crontab either), have no crontab form and are refused with a sentence.
    """
    given = {k: str(v).strip() for k, v in fields.items() if v is not None}
    unknown = set(given) - set(_CRON_FIELDS)
    if unknown:
        raise InvalidScheduleError(
            f"Unknown cron field(s) {', '.join(sorted(unknown))}; APScheduler's are "
            + ", ".join(_CRON_FIELDS)
            + "."
        )
    values: dict[str, str] = {}
    remaining = dict(given)
    for name in _CRON_FIELDS:
        if name in remaining:
            values[name] = remaining.pop(name)
        elif not remaining:
            values[name] = _CRON_DEFAULTS[name]
        else:
            values[name] = "*"
    for name in ("year", "week"):
        if values[name] != "*":
            raise InvalidScheduleError(
                f"cron field {name}={values[name]!r} has no crontab equivalent; "
                "use a crontab expression or an explicit list of dates."
            )
    day = _translate_day(values["day"])
    dow = _translate_day_of_week(values["day_of_week"])
    if day != "*" and dow != "*":
        raise InvalidScheduleError(
            "APScheduler fires only when both day and day_of_week match, crontab when either "
            "does; cronwell cannot express that with keyword fields. Restrict one of them, or "
            "write a crontab expression."
        )
    parts = [values["minute"], values["hour"], day, values["month"], dow]
    if values["second"] != "0":
        parts.insert(0, values["second"])
    return " ".join(parts)


def _translate_day(expr: str) -> str:
    if expr.lower() == "last":
        return "L"
    if re.search(r"[a-z]", expr, re.IGNORECASE):
        raise InvalidScheduleError(
            f"cron day={expr!r} has no crontab form in cronwell; write a crontab expression "
            "(L is the last day, 1#2 in day-of-week the second Monday)."
        )
    return expr


def _translate_day_of_week(expr: str) -> str:
    """APScheduler weekday numbers (Monday 0) to crontab ones (Monday 1, Sunday 7)."""
    if expr == "*":
        return expr
    out = []
    for part in expr.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            base = "0-6"
        bounds = base.split("-")
        converted = []
        for bound in bounds:
            if bound.isdigit():
                number = int(bound)
                if number > 6:
                    raise InvalidScheduleError(
                        f"cron day_of_week={expr!r}: APScheduler weekdays are 0 (Monday) to 6."
                    )
                converted.append(str(number + 1))
            else:
                converted.append(bound)
        piece = "-".join(converted)
        out.append(f"{piece}/{step}" if step else piece)
    return ",".join(out)


def _default_id(
    func: Callable[..., Any] | str,
    schedule: AnySchedule,
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
) -> str:
    """An id for ``add_job`` without one: the function's name and a digest of what the job
    is, so declaring the same job again finds it and a loop over arguments makes distinct
    tasks (APScheduler draws a random id, which a durable store would pile up)."""
    name = (
        func.rsplit(":", 1)[-1].rsplit(".", 1)[-1] if isinstance(func, str) else display_name(func)
    )
    ref = func if isinstance(func, str) else function_reference(func)
    # without remove_after_run: date jobs stored before it existed keep their ids
    what = json.dumps(
        [
            ref,
            schedule.model_dump(mode="json", exclude={"remove_after_run"}),
            list(args or ()),
            kwargs or {},
        ],
        sort_keys=True,
        default=repr,
    )
    return f"{name[:180]}-{hashlib.sha1(what.encode()).hexdigest()[:10]}"
