"""Settings, read from ``CRONWELL_*`` environment variables (and a ``.env`` file).

Every field has a sensible default so that ``cronwell serve`` works with no configuration:
an SQLite file ``./cronwell.db`` and the system's time zone.
"""

from __future__ import annotations

import json
import socket
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cronwell.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///cronwell.db"


class Settings(BaseSettings):
    """cronwell's configuration. Environment variables are ``CRONWELL_`` + the field name."""

    model_config = SettingsConfigDict(env_prefix="CRONWELL_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy-style URL: sqlite:///path.db or postgresql://user@host/db.",
    )
    timezone: str | None = Field(
        None, description="Default IANA zone for tasks that name none; the system zone if unset."
    )
    output_limit: int = Field(
        64 * 1024, ge=1024, description="Bytes of output (stdout, stderr, logs) kept per run."
    )
    max_workers: int = Field(
        20,
        ge=1,
        description="Threads that run actions concurrently; catch-up runs after an outage "
        "have a quarter as many more (at least one) of their own.",
    )
    poll_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between checks for changes made elsewhere."
    )
    instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
        description="Name of this process in run history.",
    )
    log_level: str = Field("INFO", description="Level of cronwell's log records.")
    api_token: str | None = Field(
        None, description="Bearer token every API endpoint but health and metrics requires."
    )
    allow_shell: bool = Field(
        False, description="Accept shell tasks through the API (they run any command)."
    )
    api_functions: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Python functions that tasks created through the API may call, besides "
        "those registered in the application (@cw.task, add_job with a callable): module "
        "names such as 'myapp.jobs' (functions defined in that module and those under it), "
        "prefixes ending in '.' such as 'myapp.' (every module under myapp), or exact "
        "'pkg.mod:func' references. "
        "Comma-separated or a JSON list. Empty: only registered functions.",
    )
    executor: Literal["local", "celery"] = Field(
        "local",
        description="Where the runs of tasks that leave executor unset execute: 'local' "
        "(this process's worker pool) or 'celery' (Celery workers, see "
        "CRONWELL_CELERY_BROKER).",
    )
    celery_broker: str | None = Field(
        None,
        description="The Celery broker URL (amqp://guest@127.0.0.1:5672// for RabbitMQ, "
        "redis://127.0.0.1:6379/0 for Redis) the leader sends runs to and "
        "`celery -A cronwell.contrib.celery worker` takes them from.",
    )
    celery_queue: str = Field(
        "cronwell",
        min_length=1,
        description="The Celery queue of runs whose task names none.",
    )
    lease_ttl: float = Field(
        15.0,
        ge=1,
        description="Seconds the scheduler lease lasts; the leader renews it every third of "
        "that, and a standby takes over once it lapses.",
    )
    shutdown_grace: float = Field(
        30.0, ge=0, description="Seconds running runs may take to finish when stopping."
    )
    gc_hold: bool | None = Field(
        None,
        description="Let cronwell manage the process's cyclic garbage collector: hold "
        "collections off while it loads or stores tasks in bulk and while a burst of fires "
        "is in flight, and freeze the heap once `cronwell serve` is up. Unset: on for "
        "`cronwell serve`, off in an application that embeds cronwell (its collector stays "
        "as the application set it).",
    )
    history_retention_days: float = Field(
        90.0, gt=0, description="Run history older than this is pruned (maintenance task)."
    )
    history_max_runs: int = Field(
        10_000, ge=1, description="Finished runs kept per task (maintenance task)."
    )
    channels: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description='Named alert channels: JSON such as {"dev": "discord://ID/TOKEN", '
        '"alerts": ["tgram://BOT/CHAT", "mailto://user:pass@example.com"]} (Apprise URLs).',
    )
    alert_channels: list[str] = Field(
        default_factory=list,
        description="Channels (or Apprise URLs) every task alerts to, with the default events.",
    )
    scheduler_channels: list[str] = Field(
        default_factory=list,
        description="Channels told when the scheduler starts or stops.",
    )
    summary_channel: str | None = Field(
        None, description="Channel that gets the schedule summary when the scheduler starts."
    )
    alert_reminder: float | None = Field(
        None, gt=0, description="Seconds after which a task still failing alerts again."
    )
    dashboard_url: str | None = Field(
        None, description="Base URL of the dashboard, for links to runs in alerts."
    )
    dashboard_readonly: bool = Field(
        False,
        description="The dashboard shows everything and changes nothing: it hides its "
        "actions (pause, resume, run now, delete, test alert) and refuses them.",
    )
    heartbeat_url: str | None = Field(
        None,
        description="URL pinged (GET) every heartbeat_interval while the scheduler runs: a "
        "dead man's switch such as healthchecks.io.",
    )
    heartbeat_interval: float = Field(60.0, gt=0, description="Seconds between pings.")
    alert_templates: str | None = Field(
        None,
        description="Folder of Jinja2 templates (title.j2, body.j2, <event>.body.j2…) that "
        "replace the default alert texts.",
    )
    maintenance_cron: str | None = Field(
        "17 3 * * *",
        description="When the built-in maintenance task prunes history (crontab, in the "
        "default zone); empty to not create it.",
    )

    @field_validator("api_functions", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        """A JSON list, or names separated by commas (or whitespace)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.replace(",", " ").split() if part]
        return value

    @field_validator("api_functions")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            module, colon, name = pattern.partition(":")
            parts = module.removesuffix(".").split(".")
            if not all(p.isidentifier() for p in parts) or (colon and not name):
                raise ValueError(
                    f"{pattern!r} is not a module name, a module prefix ending in '.' or a "
                    "'pkg.mod:func' reference"
                )
        return value


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with explicit overrides winning.

    A malformed value raises :class:`ConfigError` naming the variable.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            f"CRONWELL_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid settings: {problems}") from None
