"""Tasks files: TOML or JSON lists of task definitions, for ``cronwell serve --tasks`` and
``cronwell tasks add --file`` (the JSON task files the seed projects kept by hand).

TOML::

    [[tasks]]
    id = "nightly-backup"
    schedule = { kind = "cron", cron = "30 2 * * *" }
    action = { kind = "shell", command = "tar czf /tmp/backup.tgz /etc" }
    timezone = "Europe/Paris"

JSON: ``{"tasks": [ ... ]}`` or a bare list. A shorthand ``cron = "..."`` (or ``every =
"5m"``) may stand instead of ``schedule``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from cronwell.domain.durations import parse_duration
from cronwell.errors import ConfigError


def read_tasks_file(path: str | Path) -> list[dict[str, Any]]:
    """The task definitions in ``path``; :class:`ConfigError` with the file, and the
    line where the parser knows it, for anything malformed."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read tasks file {file}: {exc.strerror}.") from None
    try:
        if file.suffix.lower() == ".json":
            data: Any = json.loads(text)
        else:
            data = tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: invalid JSON at line {exc.lineno}: {exc.msg}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}.") from None
    entries = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{file}: expected a list of tasks under 'tasks'.")
    return [_expand(entry, file, index) for index, entry in enumerate(entries, 1)]


def _expand(entry: dict[str, Any], file: Path, index: int) -> dict[str, Any]:
    entry = dict(entry)
    shorthands = [k for k in ("cron", "every") if k in entry]
    if len(shorthands) + ("schedule" in entry) != 1:
        raise ConfigError(
            f"{file}: task #{index} ({entry.get('id', 'no id')}) needs exactly one of "
            "schedule, cron or every."
        )
    if "cron" in entry:
        entry["schedule"] = {"kind": "cron", "cron": entry.pop("cron")}
    elif "every" in entry:
        entry["schedule"] = {
            "kind": "interval",
            "seconds": parse_duration(entry.pop("every"), "every"),
        }
    return entry
