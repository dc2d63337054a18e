"""``docs/reference/settings.md``: every ``CRONWELL_*`` variable, from the pydantic-settings
model :class:`cronwell.settings.Settings` (its fields, types, defaults, bounds and
descriptions)."""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from docs.gen import generated_note

INTRO = """\
# Settings reference

{note}

cronwell reads its configuration from environment variables, `CRONWELL_` followed by the
setting's name (upper or lower case), and from a `.env` file in the working directory;
a variable set in the environment wins over the file. `Cronwell(...)` arguments win over
both, and `Cronwell(settings=Settings(...))` replaces them. A malformed value stops the
start with one sentence naming the variable (exit code 6 from the CLI).

Lists and mappings are written as JSON (`CRONWELL_ALERT_CHANNELS='["dev"]'`);
`CRONWELL_API_FUNCTIONS` also takes names separated by commas. Durations are seconds.

| variable | type | default | what |
|---|---|---|---|
"""


def render() -> str:
    from cronwell.settings import Settings

    prefix = str(Settings.model_config.get("env_prefix", ""))
    rows = []
    sections = []
    for name, field in Settings.model_fields.items():
        variable = f"{prefix}{name}".upper()
        anchor = variable.lower()  # the heading's slug
        rows.append(
            f"| [`{variable}`](#{anchor}) | {_cell(_type(field.annotation))} "
            f"| {_cell(_default(field))} | {_cell(_first_sentence(field.description))} |"
        )
        bounds = _bounds(field)
        sections.append(
            "\n".join(
                [
                    f"## `{variable}`",
                    "",
                    _text(field.description),
                    "",
                    f"* type: `{_type(field.annotation)}`",
                    f"* default: {_default(field)}",
                    *([f"* allowed: {bounds}"] if bounds else []),
                    f"* Python: `Settings.{name}`",
                    "",
                ]
            )
        )
    note = generated_note("`cronwell.settings.Settings`")
    return INTRO.format(note=note) + "\n".join(rows) + "\n\n" + "\n".join(sections)


def _type(annotation: Any) -> str:
    """A type as written in Python source: ``str | None``, ``list[str]``."""
    if annotation is None or annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(_type(a) for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type(a) for a in args)}]"
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if value in ([], {}):
            return f"`{json.dumps(value)}`"
        return "computed at start (see the description)"
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None:
        return "unset"
    if isinstance(field.default, str):
        return f"`{field.default}`"
    return f"`{field.default!r}`"


def _bounds(field: FieldInfo) -> str:
    words = []
    for item in field.metadata:
        for cls, sign, attr in (
            (annotated_types.Gt, ">", "gt"),
            (annotated_types.Ge, "≥", "ge"),
            (annotated_types.Lt, "<", "lt"),
            (annotated_types.Le, "≤", "le"),
        ):
            if isinstance(item, cls):
                words.append(f"{sign} {getattr(item, attr)}")
    return ", ".join(words)


def _first_sentence(text: str | None) -> str:
    if not text:
        return ""
    match = re.match(r"(.+?[.;])(\s|$)", text.strip(), re.DOTALL)
    return _text((match.group(1) if match else text).rstrip(";.") + ".")


def _text(text: str | None) -> str:
    """A description as Markdown prose: angle brackets are text, not HTML."""
    return (text or "").strip().replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
