"""The JSON Schema of a tasks document (``cronwell schema``), one for the three spellings:
the task model's own schema, with the schedule shorthands, durations written as text, and
the read-only keys that ``tasks list --json`` adds. A copy is kept in
``docs/reference/tasks.schema.json`` for editors; a test keeps it equal to this."""

from __future__ import annotations

import json
from typing import Any

from cronwell.domain.task import STATE_FIELDS, Task
from cronwell.service.declared.keys import READ_ONLY, SHORTHANDS

SCHEMA_ID = "https://cronwell.dev/schema/tasks.schema.json"
_DURATIONS = (
    "jitter",
    "misfire_grace",
    "retry_delay",
    "retry_max_delay",
    "timeout",
    "catchup_window",
    "long_running",
)
_DURATION_TEXT = {
    "type": "string",
    "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|w|d|h|m|s)?\s*)+$",
    "description": "Seconds, or a duration such as '90s', '15m', '1h30m'.",
}
_TIME_OF_DAY = r"^\s*\d{1,2}:\d{2}(:\d{2})?\s*$"
_SHORTHAND_SCHEMAS: dict[str, dict[str, Any]] = {
    "cron": {
        "type": "string",
        "minLength": 1,
        "description": "Shorthand for a cron schedule: a crontab expression.",
        "examples": ["0 8 * * 1-5"],
    },
    "every": {
        "anyOf": [{"type": "number", "exclusiveMinimum": 0}, _DURATION_TEXT],
        "description": "Shorthand for an interval schedule: seconds, or '90s', '15m', '1h30m'.",
    },
    "at": {
        "type": "string",
        "format": "date-time",
        "description": "Shorthand for a one-off schedule: an ISO 8601 time with its offset.",
    },
    "daily": {
        "type": "string",
        "pattern": _TIME_OF_DAY,
        "description": "Every day at HH:MM (or HH:MM:SS).",
    },
    "weekly": {
        "anyOf": [
            {"type": "string", "description": "Weekdays and time, e.g. 'mon,fri@17:00'."},
            {
                "type": "object",
                "properties": {
                    "days": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "at": {"type": "string", "pattern": _TIME_OF_DAY},
                },
                "required": ["days"],
                "additionalProperties": False,
            },
        ],
        "description": "On those weekdays (names or 0-7, Sunday 0 or 7) at a time.",
    },
    "monthly": {
        "anyOf": [
            {"type": "string", "description": "Day and time, e.g. '1@04:00' or 'last@23:00'."},
            {"type": "integer", "minimum": 1, "maximum": 31},
        ],
        "description": "On that day of every month (1-31 or 'last') at a time.",
    },
}


def document_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a tasks document."""
    task = Task.model_json_schema(ref_template="#/$defs/{model}")
    definitions = task.pop("$defs")
    properties: dict[str, Any] = {
        name: value for name, value in task["properties"].items() if name not in STATE_FIELDS
    }
    for name in _DURATIONS:
        properties[name] = {**properties[name], "anyOf": _with_text(properties[name])}
        properties[name].pop("type", None)
    for name in ("alerts", "deliver"):  # "dev" stands for {to = "dev"}
        targets = properties[name]
        targets["items"] = {"anyOf": [{"type": "string"}, targets["items"]]}
    properties.update(_SHORTHAND_SCHEMAS)
    for name in READ_ONLY:
        properties[name] = {"readOnly": True, "description": "Written by cronwell; ignored."}
    definitions["Task"] = {
        "title": "Task",
        "description": "A task definition: an id, one schedule (or one shorthand), an "
        "action, and policies.",
        "type": "object",
        "properties": properties,
        "required": ["id", "action"],
        "oneOf": [{"required": [key]} for key in ("schedule", *SHORTHANDS)],
        "additionalProperties": False,
    }
    tasks = {"type": "array", "items": {"$ref": "#/$defs/Task"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cronwell tasks document",
        "description": "A list of task definitions under 'tasks' (TOML, YAML or JSON); YAML "
        "and JSON may also be a bare list. What `cronwell export` writes.",
        "anyOf": [
            {
                "type": "object",
                "properties": {"$schema": {"type": "string"}, "tasks": tasks},
                "additionalProperties": False,
            },
            tasks,
        ],
        "$defs": dict(sorted(definitions.items())),
    }


def _with_text(schema: dict[str, Any]) -> list[dict[str, Any]]:
    choices = list(schema.get("anyOf") or [{"type": schema["type"]}])
    return [*choices, _DURATION_TEXT]


def schema_text() -> str:
    """:func:`document_schema` as the text ``cronwell schema`` prints."""
    return json.dumps(document_schema(), indent=2, ensure_ascii=False) + "\n"
