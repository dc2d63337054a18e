"""Turning an :class:`~cronwell.domain.alerts.Alert` into a title and a Markdown body.

Templates are Jinja2 (no HTML escaping: the body is Markdown). The defaults live in
:mod:`cronwell.notify.default_templates`; :meth:`TemplateSet.from_directory` loads overrides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronwell.domain.alerts import Alert, AlertEvent, Severity
from cronwell.errors import ConfigError
from cronwell.extras import require
from cronwell.notify import default_templates

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

#: Limits of the default body, in characters.
ERROR_SUMMARY_LIMIT = 300
OUTPUT_TAIL_LIMIT = 1000

EMOJI: dict[Severity, str] = {
    "failure": "❌",
    "success": "✅",
    "warning": "⚠️",
    "info": "ℹ️",
}

_ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")
_BACKTICKS = re.compile(r"`{3,}")


@dataclass(frozen=True)
class Rendered:
    """A message ready to send: a one-line title, a body and Apprise's notify type. An
    alert's body is Markdown; a delivered result's may be ``text``, ``html`` or ``json``
    (sent to Apprise as text), and ``file_name`` names the file a ``file:///`` folder
    target gets."""

    title: str
    body: str
    notify_type: Severity
    body_format: str = "markdown"
    file_name: str | None = None


# --- filters -------------------------------------------------------------------------------


def one_line(text: object, limit: int = ERROR_SUMMARY_LIMIT) -> str:
    """``text`` on one line (whitespace runs become one space), at most ``limit``
    characters, ending in "…" when cut. A Python traceback is reduced to its last line."""
    value = str(text).strip()
    if value.startswith("Traceback (most recent call last)"):
        lines = [line for line in value.splitlines() if line.strip()]
        value = lines[-1] if lines else value
    value = _WHITESPACE.sub(" ", value).strip()
    if len(value) > limit:
        value = value[: max(limit - 1, 0)].rstrip() + _ELLIPSIS
    return value


def tail(text: object, limit: int = OUTPUT_TAIL_LIMIT) -> str:
    """The end of ``text``: at most ``limit`` characters, starting with "…" when cut."""
    value = str(text).rstrip()
    if len(value) > limit:
        value = _ELLIPSIS + value[-(limit - 1) :] if limit > 0 else ""
    return value


def fenced(text: object, language: str = "") -> str:
    """``text`` in a Markdown fenced code block. Runs of three or more backticks inside are
    broken with zero-width spaces so they cannot close the fence early."""
    value = _BACKTICKS.sub(lambda m: "\u200b".join(m.group(0)), str(text))
    return f"```{language}\n{value}\n```"


def human_duration(seconds: float | None) -> str:
    """``12.3 s``, ``4 min 5 s``, ``2 h 3 min``, ``1 d 2 h``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def iso(value: datetime | None) -> str:
    """ISO 8601, seconds precision, in the datetime's own zone."""
    if value is None:
        return ""
    return value.isoformat(timespec="seconds")


def context(alert: Alert) -> dict[str, Any]:
    """What every template can use:

    ``alert`` (the :class:`Alert`), ``event`` (its value, e.g. ``"failed"``), ``severity``
    (``success``/``failure``/``warning``/``info``), ``emoji``, ``task`` (name, else id, else
    ``None``), ``occurrence`` (ISO 8601 in the task's zone), ``duration`` (in words),
    ``error`` (one line, ≤ 300 characters), ``output`` (the last ≤ 1,000 characters),
    ``output_truncated`` (bool). Filters: ``one_line``, ``tail``, ``fenced``,
    ``duration``, ``iso``.
    """
    output = alert.output_excerpt.rstrip() if alert.output_excerpt else ""
    return {
        "alert": alert,
        "event": alert.event.value,
        "severity": alert.severity,
        "emoji": EMOJI[alert.severity],
        "task": alert.task_name or alert.task_id or None,
        "occurrence": iso(alert.occurrence),
        "duration": human_duration(alert.duration),
        "error": one_line(alert.error) if alert.error else "",
        "output": tail(output) if output else "",
        "output_truncated": len(output) > OUTPUT_TAIL_LIMIT,
    }


# --- templates -----------------------------------------------------------------------------

_TITLE = "title.j2"
_BODY = "body.j2"
_EVENT_FILE = re.compile(r"^(?P<event>[a-z_]+)\.(?P<part>title|body)\.j2$")


def _environment(sources: Mapping[str, str]) -> SandboxedEnvironment:
    """A sandboxed Jinja environment over ``sources``. Jinja is imported here, when the
    first alert is rendered or templates are loaded, not by every process that could."""
    jinja2 = require("jinja2", "alerts", "rendering alerts")
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=jinja2.DictLoader(sources),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        one_line=one_line, tail=tail, fenced=fenced, duration=human_duration, iso=iso
    )
    return env


class TemplateSet:
    """The title and body templates for alerts, with optional per-event overrides.

    Template names: ``title.j2`` and ``body.j2`` for every event; ``<event>.title.j2`` and
    ``<event>.body.j2`` (``failed.body.j2``) for one event. A name that is not given falls
    back to the default. A template that does not compile raises :class:`ConfigError`
    naming the file and Jinja's message.
    """

    def __init__(self, sources: Mapping[str, str], *, origin: str = "") -> None:
        self.origin = origin
        defaults = {_TITLE: default_templates.TITLE, _BODY: default_templates.BODY}
        self._env = _environment({**defaults, **sources})
        self._names: set[str] = set(defaults) | set(sources)
        for name in sorted(sources):
            match = _EVENT_FILE.match(name)
            if match and match.group("event") not in {e.value for e in AlertEvent}:
                known = ", ".join(e.value for e in AlertEvent)
                raise ConfigError(
                    f"Alert template {self._where(name)} names no known event "
                    f"{match.group('event')!r}; events are: {known}."
                )
            self._compile(name)

    @classmethod
    def default(cls) -> TemplateSet:
        """The built-in templates."""
        return _default()

    @classmethod
    def from_strings(
        cls,
        title: str | None = None,
        body: str | None = None,
        events: Mapping[AlertEvent | str, tuple[str | None, str | None]] | None = None,
    ) -> TemplateSet:
        """Templates given as strings; ``events`` maps an event to its (title, body)."""
        sources: dict[str, str] = {}
        if title is not None:
            sources[_TITLE] = title
        if body is not None:
            sources[_BODY] = body
        for event, (event_title, event_body) in (events or {}).items():
            name = AlertEvent(event).value
            if event_title is not None:
                sources[f"{name}.title.j2"] = event_title
            if event_body is not None:
                sources[f"{name}.body.j2"] = event_body
        return cls(sources)

    @classmethod
    def from_directory(cls, path: str | Path) -> TemplateSet:
        """Every ``*.j2`` file in ``path``: ``title.j2``, ``body.j2``,
        ``<event>.title.j2``, ``<event>.body.j2``; other ``.j2`` files can be included from
        those. Raises :class:`ConfigError` when the directory is missing or holds none of
        them, or when a template does not compile."""
        directory = Path(path)
        if not directory.is_dir():
            raise ConfigError(f"Alert templates directory {str(directory)!r} does not exist.")
        sources: dict[str, str] = {}
        for file in sorted(directory.glob("*.j2")):
            try:
                sources[file.name] = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"Cannot read alert template {str(file)!r}: {exc}") from exc
        wanted = [n for n in sources if n in (_TITLE, _BODY) or _EVENT_FILE.match(n)]
        if not wanted:
            raise ConfigError(
                f"No alert templates in {str(directory)!r}: expected title.j2, body.j2, "
                "<event>.title.j2 or <event>.body.j2."
            )
        return cls(sources, origin=str(directory))

    def names_for(self, event: AlertEvent) -> tuple[str, str]:
        """The (title, body) template names used for ``event``."""
        title = f"{event.value}.title.j2"
        body = f"{event.value}.body.j2"
        return (
            title if title in self._names else _TITLE,
            body if body in self._names else _BODY,
        )

    def render(self, name: str, values: Mapping[str, Any]) -> str:
        import jinja2

        try:
            return self._env.get_template(name).render(values)
        except jinja2.TemplateError as exc:
            raise ConfigError(
                f"Alert template {self._where(name)} failed: {exc.message or exc}"
            ) from exc
        except Exception as exc:
            raise ConfigError(
                f"Alert template {self._where(name)} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _compile(self, name: str) -> None:
        import jinja2

        try:
            self._env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            where = self._where(exc.name or name)
            raise ConfigError(
                f"Alert template {where} is broken (line {exc.lineno}): {exc.message}"
            ) from exc
        except jinja2.TemplateError as exc:
            raise ConfigError(
                f"Alert template {self._where(name)} is broken: {exc.message or exc}"
            ) from exc

    def _where(self, name: str) -> str:
        return repr(str(Path(self.origin) / name)) if self.origin else repr(name)


@cache
def _default() -> TemplateSet:
    return TemplateSet({})


def render(alert: Alert, templates: TemplateSet | None = None) -> Rendered:
    """Render ``alert`` with ``templates`` (the defaults when ``None``).

    The title is put on one line; the body is Markdown with surrounding blank space
    removed (the alert's own title when the template renders nothing). A template that
    fails raises :class:`ConfigError` naming it.
    """
    templates = templates or _default()
    values = context(alert)
    title_name, body_name = templates.names_for(alert.event)
    title = _WHITESPACE.sub(" ", templates.render(title_name, values)).strip()
    body = templates.render(body_name, values).strip()
    # Many services refuse an empty body; an alert with nothing else to say repeats its title.
    return Rendered(
        title=title or alert.title, body=body or alert.title, notify_type=alert.severity
    )
