"""JSON Schema in a few words, for the generated pages: types as text, named schemas as
links to their section, descriptions as Markdown."""

from __future__ import annotations

import json
from typing import Any


def slug(name: str) -> str:
    """The anchor of a named schema's section."""
    return f"schema-{name.lower()}"


def type_words(schema: dict[str, Any]) -> str:
    """``string``, ``integer (1–1000)``, ``array of Task``, a link for a named schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{slug(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(type_words(s) for s in schema[key])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return type_words(schema["allOf"][0])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return "array of " + type_words(schema.get("items", {}))
    if kind == "object" and "additionalProperties" in schema:
        values = schema["additionalProperties"]
        return "object of " + (type_words(values) if isinstance(values, dict) else "any")
    if kind is None:
        return "any"
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if schema.get("format"):
        text += f" ({schema['format']})"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        text += f" ({'' if low is None else low}–{'' if high is None else high})"
    return text


def prose(text: str) -> str:
    """A docstring as one Markdown line: reST's double backticks become single ones, and
    angle brackets are text, not HTML."""
    text = text.replace("``", "`").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(line.strip() for line in text.strip().splitlines()).strip()


def cell(text: str) -> str:
    """``text`` fit for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def schema_section(name: str, schema: dict[str, Any], level: str = "###") -> list[str]:
    """A named schema: its description, then its values or a table of its properties."""
    lines = [f"{level} {name} {{#{slug(name)}}}", ""]
    description = prose(schema.get("description", ""))
    if description:
        lines += [description, ""]
    if "enum" in schema:
        lines += ["One of " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
        return lines
    properties = schema.get("properties") or {}
    if not properties:
        lines += [f"Type: {type_words(schema)}", ""]
        return lines
    required = set(schema.get("required") or [])
    lines += ["| field | type | required | default | what |", "|---|---|---|---|---|"]
    for field, prop in properties.items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        lines.append(
            f"| `{field}` | {cell(type_words(prop))} | {'yes' if field in required else 'no'} "
            f"| {cell(default)} | {cell(prose(prop.get('description', '')))} |"
        )
    lines.append("")
    return lines
