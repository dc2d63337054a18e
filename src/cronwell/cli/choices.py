"""The fixed choices of CLI options, as enums: ``--help`` lists them, Click refuses anything
else with a sentence naming them, and shell completion offers them.

They mirror the domain's values (``tests/unit/test_cli_choices.py`` keeps them equal)
without importing the domain, so that importing the CLI, as completion does, stays light.
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    ENABLED = "enabled"
    PAUSED = "paused"


class RunStatusChoice(StrEnum):
    """:class:`cronwell.domain.run.RunStatus`."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    MISSED = "missed"
    ABANDONED = "abandoned"
    INTERRUPTED = "interrupted"


class OverlapChoice(StrEnum):
    """:data:`cronwell.domain.policies.Overlap`."""

    ALLOW = "allow"
    SKIP = "skip"
    QUEUE_ONE = "queue_one"
    REPLACE = "replace"


class CatchupChoice(StrEnum):
    """:data:`cronwell.domain.policies.Catchup`."""

    NONE = "none"
    LATEST = "latest"
    ALL = "all"


class LogLevel(StrEnum):
    """The levels :func:`cronwell.log.configure` accepts."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class DocumentFormat(StrEnum):
    """The spellings of a tasks document, for ``--format`` options."""

    TOML = "toml"
    YAML = "yaml"
    JSON = "json"
