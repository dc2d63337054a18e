"""Tasks: a user-defined unit of work — an action, a schedule and policies."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import from_json

from cronwell.domain.action import Action
from cronwell.domain.alerts import AlertTarget
from cronwell.domain.delivery import DeliveryTarget
from cronwell.domain.durations import parse_duration
from cronwell.domain.policies import Catchup, Executor, Overlap
from cronwell.domain.run import Run
from cronwell.domain.schedule import AnySchedule, OnceSchedule, Preview, require_aware
from cronwell.domain.timezones import zone, zone_key
from cronwell.domain.unvalidated import ReadOnlyList, assemble
from cronwell.errors import InvalidTaskError

STATE_FIELDS = frozenset(
    {"version", "created_at", "updated_at", "paused_reason", "consecutive_failures", "source"}
)
# Fields that say what a task is for, not when or how it runs: a change of only these keeps
# the task's catch-up anchor (``updated_at``) and its place in the running engine.
DESCRIPTIVE_FIELDS = frozenset({"name", "description", "tags"})
#: The source of cronwell's own tasks (the maintenance task): never pruned, never adopted.
SYSTEM_SOURCE = "cronwell"
#: The source of tasks the library stores when it is given none.
DEFAULT_SOURCE = "app"
#: The source of tasks stored before sources were recorded.
UNKNOWN_SOURCE = "unknown"
SOURCE_MAX = 200  # length of cronwell_tasks.source
_STATE_SET = set(STATE_FIELDS)  # pydantic's ``exclude`` takes a set
# matched whole (fullmatch): a "$" would let "trail\n" through
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
TASK_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"  # the same, for the JSON schema
DEFAULT_MISFIRE_GRACE = 60.0


class Task(BaseModel):
    """A task as stored: JSON in, JSON out (``model_dump(mode="json")`` and
    ``Task.model_validate``). ``version`` counts stored changes (optimistic concurrency)."""

    # non-finite durations (misfire_grace=inf: never missed) as the store has always written
    # them, Infinity and NaN, which definition_json would otherwise turn into null
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, ser_json_inf_nan="constants"
    )

    id: str = Field(
        description="Unique slug: letters, digits and _ . : - (up to 200).",
        json_schema_extra={"pattern": TASK_ID_PATTERN, "minLength": 1, "maxLength": 200},
    )
    name: str = ""
    description: str = ""
    schedule: AnySchedule
    action: Action
    timezone: str = Field(
        "UTC",
        description="IANA zone the schedule is read in. The library also takes a zone "
        "object with an IANA name (ZoneInfo, pytz, dateutil) and stores its name.",
    )
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    start_date: datetime | None = None
    end_date: datetime | None = None
    jitter: float = Field(0.0, description="Up to this many seconds of random delay per run.")
    max_instances: int = Field(
        1,
        ge=1,
        description="Runs of this task allowed at once; an occurrence that comes when that "
        "many are going follows overlap.",
    )
    misfire_grace: float = Field(
        DEFAULT_MISFIRE_GRACE,
        description="Seconds an occurrence may start late before it is recorded as missed.",
    )
    executor: Executor | None = Field(
        None,
        description="Where runs execute: 'local' (this process's worker pool) or 'celery' "
        "(Celery workers: the leader records each run, then sends it to a queue). Unset: "
        "the scheduler's default, CRONWELL_EXECUTOR.",
    )
    queue: str | None = Field(
        None,
        max_length=200,
        description="With executor='celery': the Celery queue its runs go to. Unset: "
        "CRONWELL_CELERY_QUEUE.",
    )
    # -- run policies (DESIGN rules 5 to 7) --
    timeout: float | None = Field(
        None, description="Seconds a run may take; then it is stopped and recorded timed_out."
    )
    retries: int = Field(0, ge=0, le=100, description="Further attempts after a failure.")
    retry_delay: float = Field(60.0, description="Base of the backoff: base * 2**(attempt-1).")
    retry_max_delay: float = Field(3600.0, description="Cap of the backoff, in seconds.")
    retry_jitter: float = Field(0.1, ge=0, le=1, description="Spread of each delay, 0 to 1.")
    retry_on: list[str] = Field(
        default_factory=list,
        description="Exception type names worth a retry; empty retries every failure.",
    )
    overlap: Overlap = Field(
        "skip",
        description="When an occurrence comes while max_instances runs of the task are "
        "still going: 'skip' it, 'queue_one' more to start when a run ends, or 'replace' "
        "(stop the runs going and start it); 'allow' is 'skip' by another name.",
    )
    catchup: Catchup = Field(
        "latest",
        description="After downtime: 'none' records missed occurrences only, 'latest' runs "
        "the most recent, 'all' runs those within catchup_window.",
    )
    catchup_window: float | None = Field(
        None, description="With catchup='all': only occurrences this recent (seconds) run."
    )
    max_consecutive_failures: int | None = Field(
        None, ge=1, description="Pause the task after this many failed occurrences in a row."
    )
    long_running: float | None = Field(
        None, description="Alert 'long_running' when a run goes on longer than this."
    )
    long_running_factor: float | None = Field(
        None,
        gt=1,
        description="Alert 'long_running' when a run goes on longer than this many times "
        "the task's p95 duration (once it has a history).",
    )
    alerts: list[AlertTarget] = Field(
        default_factory=list,
        description="Where this task's alerts go, besides the default channels: channel "
        "names or Apprise URLs, each with the events it wants.",
    )
    deliver: list[DeliveryTarget] = Field(
        default_factory=list,
        description="Where each successful run's result goes (what the action returned or "
        "passed to ctx.deliver, a command's output): Apprise URLs, channel names or "
        "file:/// folders, each with its format. A failed delivery never fails the run.",
    )
    # -- state kept by cronwell, not part of the definition --
    paused_reason: str | None = None
    consecutive_failures: int = 0
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    source: str | None = Field(
        None,
        description="Who declared the task: a tasks file's name, 'api', 'cli', 'app' (the "
        "library) or the source given to apply; kept by cronwell.",
    )

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not TASK_ID.fullmatch(value):
            raise InvalidTaskError(
                f"Task id {value!r} is not a slug: use letters, digits and _ . : - "
                "(starting with a letter or digit, at most 200 characters)."
            )
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone(cls, value: object) -> str:
        """An IANA name, or a zone object that has one (``ZoneInfo``, pytz, dateutil)."""
        return zone_key(value)

    @field_validator("start_date", "end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else require_aware(value, "A task's start or end date")

    @field_validator("jitter", "misfire_grace", "retry_delay", "retry_max_delay", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> float:
        return parse_duration(value, str(info.field_name))

    @field_validator("timeout", "catchup_window", "long_running", mode="before")
    @classmethod
    def _optional_duration(cls, value: Any, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value, str(info.field_name))
        if seconds <= 0:
            raise InvalidTaskError(f"{info.field_name} must be longer than zero.")
        return seconds

    @field_validator("alerts", "deliver", mode="before")
    @classmethod
    def _target_shorthand(cls, value: Any) -> Any:
        """``"dev"`` stands for ``{"to": "dev"}`` (the default events, or format)."""
        if isinstance(value, list):
            return [{"to": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return sorted({t.strip() for t in value if t.strip()})

    @model_validator(mode="after")
    def _defaults(self) -> Task:
        if not self.name:
            object.__setattr__(self, "name", self.id)
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise InvalidTaskError(f"Task {self.id!r}: end_date must be after start_date.")
        if self.overlap == "replace" and not self.action.cancellable:
            raise InvalidTaskError(
                f"Task {self.id!r}: overlap='replace' stops the running run, which only works "
                f"for shell commands and Python functions with isolation='process'; this "
                f"action ({self.action.summary()}) cannot be stopped. Use 'skip' or "
                "'queue_one', or run the function in a child process."
            )
        if self.catchup_window is not None and self.catchup != "all":
            raise InvalidTaskError(
                f"Task {self.id!r}: catchup_window only applies to catchup='all'."
            )
        return self

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Task:
        """Validate a plain dict (a JSON body, a tasks file entry) into a task, turning every
        problem into one :class:`InvalidTaskError` that lists them."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidTaskError(describe_validation_error(exc, data.get("id"))) from None

    @classmethod
    def from_stored(cls, definition: dict[str, Any], **state: Any) -> Task:
        """A task read back from cronwell's own store, where it was validated when written:
        built without validating it again, its schedule and action shared with every stored
        task that has the same ones (they are immutable). Reading 100,000 tasks at start-up
        thus costs a few microseconds each instead of a full validation, and a fleet of
        similar tasks holds a few dozen schedules and actions, not one per task.
        ``state`` holds the fields cronwell keeps (``version``, ``created_at``...)."""
        return cls._assemble({**_stored_fields(definition), **state})

    @classmethod
    def from_stored_json(cls, text: str, *, shared_lists: bool = False, **state: Any) -> Task:
        """:meth:`from_stored` from the stored JSON text. The tasks of a fleet differ in
        their id and name and repeat the rest of their definition, so the rest (the text
        after the name) is read and prepared once per distinct text: at start-up, parsing
        and sharing every definition's thirty fields was two thirds of the cost.

        Each task gets its own lists, as if parsed alone, unless ``shared_lists``: then
        tasks whose text after the name is the same hold the same
        :class:`~cronwell.domain.unvalidated.ReadOnlyList` objects (the engine's copies of
        a fleet: 232 bytes a task less, a sixth of what a scheduled task holds)."""
        cut = text.find(_AFTER_NAME)
        head = _head(text[:cut]) if cut > 0 else None
        if head is None:  # not the layout cronwell writes
            return cls.from_stored(from_json(text), **state)
        tail = text[cut:]
        fields = _TAILS.get(tail)
        if fields is None:
            if len(_TAILS) >= _SHARED_LIMIT:
                _TAILS.clear()
            fields = _stored_fields(from_json("{" + tail[1:]))
            for name in _LISTS:
                if fields.get(name) is not None:
                    fields[name] = ReadOnlyList(fields[name])
            _TAILS[tail] = fields
        data = {**head, **fields, **state}
        if not shared_lists:
            for name in _LISTS:
                if data.get(name) is not None:
                    data[name] = list(data[name])
        return cls._assemble(data)

    @classmethod
    def _assemble(cls, data: dict[str, Any]) -> Task:
        """The task of ``data`` (every field, values already of their types), unvalidated."""
        for name in ("created_at", "updated_at", "source"):  # a fleet shares them
            if name in data:
                data[name] = _share(name, data[name])
        if data.keys() != _FIELD_NAMES:  # stored by an older version: fill in the defaults
            return cls.model_construct(**data)
        if tuple(data) != _FIELD_ORDER:
            data = {name: data[name] for name in _FIELD_ORDER}
        # model_construct's per-field alias handling cost ~50 us a task; Task has no aliases
        return assemble(cls, data, _FIELD_NAMES)

    @property
    def tz(self) -> tzinfo:
        return zone(self.timezone)

    @property
    def removes_after_run(self) -> bool:
        """A one-off to delete once its occurrence is settled."""
        schedule = self.schedule
        return type(schedule) is OnceSchedule and schedule.remove_after_run

    def settled_by(self, run: Run, *, retrying: bool = False) -> bool:
        """True when ``run`` (stored, with no retry to follow when not ``retrying``) ends
        this one-off's occurrence: any final status of a row of that very instant. A
        manual run (another instant) settles nothing."""
        schedule = self.schedule
        return (
            type(schedule) is OnceSchedule
            and not retrying
            and run.status.is_terminal
            and run.scheduled_for == schedule.at
        )

    def definition(self) -> dict[str, Any]:
        """What the user defined: the stored JSON minus the state cronwell keeps."""
        return self.model_dump(mode="json", exclude=_STATE_SET)

    def definition_json(self) -> str:
        """:meth:`definition` as compact JSON text, as the store keeps it: serialised by
        pydantic-core in one pass, without building the dict ``json.dumps`` would need."""
        return self.model_dump_json(exclude=_STATE_SET)

    def same_definition(self, other: Task) -> bool:
        return self.definition() == other.definition()

    def same_timing(self, other: Task) -> bool:
        """Whether the two definitions differ at most in :data:`DESCRIPTIVE_FIELDS`: the
        task then fires, runs and catches up exactly as before."""
        mine, theirs = self.definition(), other.definition()
        for name in DESCRIPTIVE_FIELDS:
            mine.pop(name, None)
            theirs.pop(name, None)
        return mine == theirs

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The next occurrence strictly after ``after`` within start/end dates, in UTC."""
        if self.start_date and after < self.start_date:
            # a fire exactly at start_date counts
            after = self.start_date - timedelta(microseconds=1)
        nxt = self.schedule.next_after(after, self.tz)
        if nxt is None or (self.end_date and nxt > self.end_date):
            return None
        return nxt

    def iter_fires_after(self, after: datetime) -> Iterator[datetime]:
        """Occurrences strictly after ``after`` within start/end dates, in order, in UTC."""
        if self.start_date and after < self.start_date:
            after = self.start_date - timedelta(microseconds=1)
        for when in self.schedule.iter_after(after, self.tz):
            if self.end_date and when > self.end_date:
                return
            yield when

    def preview(self, n: int = 5, after: datetime | None = None) -> Preview:
        """Upcoming fire times in the task's zone (see :meth:`Schedule.preview`)."""
        return self.schedule.preview(n, after, self.timezone)


def describe_validation_error(exc: ValidationError, task_id: object = None) -> str:
    """One sentence per problem, naming the field path, for pydantic errors."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    prefix = f"Task {task_id!r} is not valid" if task_id else "Task is not valid"
    return f"{prefix}: " + "; ".join(problems)


_FIELD_ORDER = tuple(Task.model_fields)
_FIELD_NAMES = set(_FIELD_ORDER)
_SCHEDULES: TypeAdapter[AnySchedule] = TypeAdapter(AnySchedule)
_ACTIONS: TypeAdapter[Action] = TypeAdapter(Action)


_SHARED: dict[str, Any] = {}
_SHARED_LIMIT = 8192
_IMMUTABLE_ANNOTATIONS = (str, float, datetime, str | None, float | None, datetime | None)
# Fields of immutable values that stored tasks share, one object per distinct value and
# field (60.0, "UTC", the created_at of a fleet stored at once): ~300 bytes a task.
_SHARED_FIELDS = tuple(
    name
    for name, info in Task.model_fields.items()
    if name not in ("id", "name")
    and (info.annotation in _IMMUTABLE_ANNOTATIONS or get_origin(info.annotation) is Literal)
)
_VALUES: dict[str, dict[Any, Any]] = {name: {} for name in _SHARED_FIELDS}
_LISTS = tuple(n for n, i in Task.model_fields.items() if get_origin(i.annotation) is list)
# stored JSON lists id and name first (model_dump follows the field order), then this
_AFTER_NAME = ',"description":'
_HEAD = {"id", "name"}
_TAILS: dict[str, dict[str, Any]] = {}  # the text after the name -> its fields, prepared


def _stored_fields(definition: dict[str, Any]) -> dict[str, Any]:
    """The fields of a stored definition as the task holds them: schedule and action
    models, datetimes, and one object per value most tasks repeat."""
    data = dict(definition)
    data["schedule"] = _shared(_SCHEDULES, "schedule", definition["schedule"])
    data["action"] = _shared(_ACTIONS, "action", definition["action"])
    if definition.get("alerts"):
        data["alerts"] = [AlertTarget.model_validate(a) for a in definition["alerts"]]
    if definition.get("deliver"):
        data["deliver"] = [DeliveryTarget.model_validate(d) for d in definition["deliver"]]
    for name in ("start_date", "end_date"):
        if isinstance(data.get(name), str):
            data[name] = datetime.fromisoformat(data[name])
    for name in _SHARED_FIELDS:
        if name in data:
            data[name] = _share(name, data[name])
    if data.get("tags"):
        data["tags"] = [sys.intern(tag) for tag in data["tags"]]
    return data


def _head(text: str) -> dict[str, Any] | None:
    """The id and name of a stored definition cut before its description, or ``None``."""
    try:
        head = from_json(text + "}")
    except ValueError:
        return None
    return head if isinstance(head, dict) and head.keys() == _HEAD else None


def _share(name: str, value: Any) -> Any:
    """One object per distinct value of field ``name`` (``None`` stays ``None``)."""
    if value is None:
        return None
    kept = _VALUES[name]
    found = kept.get(value)
    if found is None or type(found) is not type(value):  # 60 == 60.0
        if len(kept) >= _SHARED_LIMIT:
            kept.clear()
        found = kept[value] = value
    return found


def _shared(adapter: TypeAdapter[Any], kind: str, stored: dict[str, Any]) -> Any:
    """The validated model of a stored schedule or action, one object per distinct value.
    The key is the stored dict's repr: stored JSON always lists fields in the same order."""
    key = kind + repr(stored)
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= _SHARED_LIMIT:
            _SHARED.clear()
        found = _SHARED[key] = adapter.validate_python(stored)
    return found
