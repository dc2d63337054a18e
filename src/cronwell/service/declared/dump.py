"""Writing tasks documents: each task as the shortest definition that reads back as the
same task, in one of the three spellings, byte for byte the same for the same tasks.

A definition always names its ``id``, schedule, ``action`` and ``timezone`` (a document
applied where another default zone is configured keeps its zones); every other field is
written only when it differs from its default. A cron schedule is written with the
``cron`` shorthand; intervals keep their anchor, so their rhythm survives a round trip.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel

from cronwell.domain.alerts import DEFAULT_EVENTS
from cronwell.domain.schedule import CronSchedule
from cronwell.domain.task import Task
from cronwell.errors import InvalidInputError

Format = Literal["toml", "yaml", "json"]
_ALWAYS = ("id", "schedule", "action", "timezone")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _defaults() -> dict[str, Any]:
    sample = Task.model_validate(
        {
            "id": "x",
            "schedule": {"kind": "cron", "cron": "* * * * *"},
            "action": {"kind": "shell", "command": "x"},
        }
    )
    return sample.definition()


_DEFAULTS = _defaults()
_DEFAULT_EVENTS = sorted(event.value for event in DEFAULT_EVENTS)


def comparable(task: Task) -> dict[str, Any]:
    """``task``'s definition with the values that have no order (alert events) in order:
    what plans compare and exports write."""
    definition = task.definition()
    if definition.get("alerts"):
        definition["alerts"] = [_alert(a) for a in definition["alerts"]]
    return definition


def _alert(alert: dict[str, Any]) -> dict[str, Any]:
    return {**alert, "events": sorted(alert.get("events") or [])}


def export_definition(task: Task) -> dict[str, Any]:
    """The shortest definition of ``task`` that reads back as the same task."""
    definition = comparable(task)
    out: dict[str, Any] = {}
    for name, value in definition.items():
        if name == "name" and value == task.id:
            continue
        if name == "schedule":
            if isinstance(task.schedule, CronSchedule):
                out["cron"] = task.schedule.cron
            else:
                out["schedule"] = _model(task.schedule)
        elif name == "action":
            out["action"] = _model(task.action)
        elif name == "alerts" and value:
            out["alerts"] = [a["to"] if a["events"] == _DEFAULT_EVENTS else a for a in value]
        elif name == "deliver" and value:
            out["deliver"] = [d["to"] if d["format"] == "markdown" else d for d in value]
        elif name in _ALWAYS or value != _DEFAULTS.get(name):
            out[name] = value
    return out


def declared_form(task: Task) -> dict[str, Any]:
    """:func:`export_definition` as a document's definition reads once its keys are checked
    (the ``cron`` shorthand expanded): a definition equal to this is the stored task."""
    form = export_definition(task)
    if "cron" in form:
        form["schedule"] = {"kind": "cron", "cron": form.pop("cron")}
    return form


def _model(model: BaseModel) -> dict[str, Any]:
    """A schedule or action without its defaults, ``kind`` first."""
    values = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    values.pop("kind", None)
    return {"kind": model.kind, **values}  # type: ignore[attr-defined]


def dump_document(definitions: list[dict[str, Any]], fmt: Format) -> str:
    """``definitions`` as a tasks document (``{"tasks": [...]}``) in ``fmt``."""
    if fmt == "json":
        return json.dumps({"tasks": definitions}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        from cronwell.service.declared.yamlio import dump

        return dump({"tasks": definitions})
    if fmt != "toml":
        raise InvalidInputError(f"Unknown format {fmt!r}; use toml, yaml or json.")
    if not definitions:
        return "tasks = []\n"
    blocks = []
    for definition in definitions:
        lines = ["[[tasks]]"]
        for key, value in definition.items():
            try:
                lines.append(f"{_toml_key(key)} = {_toml(value)}")
            except ValueError as exc:
                raise InvalidInputError(
                    f"Task {definition.get('id')!r}: {key} holds {exc}, which TOML cannot "
                    "write; export with --format json or yaml."
                ) from None
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's basic-string escapes; TOML also refuses a raw DEL
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml(value: Any) -> str:
    if value is None:
        raise ValueError("a null value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return (
            "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
        )
    raise ValueError(f"a {type(value).__name__}")
