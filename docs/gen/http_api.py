"""``docs/reference/openapi.json`` and ``docs/reference/http-api.md``: the OpenAPI document
of the FastAPI app ``cronwell serve`` answers with (``/openapi.json``), and a page of its
endpoints and schemas."""

from __future__ import annotations

import json
import tempfile
from typing import Any

from docs.gen import generated_note
from docs.gen.schema_words import cell, prose, schema_section, type_words

_METHODS = ("get", "post", "put", "patch", "delete")

INTRO = """\
# HTTP API reference

{note}

`cronwell serve` answers on `127.0.0.1:8080` (`--host`, `--port`). A running service
serves this document at `/openapi.json` and a browsable form at `/docs`; the copy built
with the site is [openapi.json](openapi.json). With `CRONWELL_API_TOKEN` set, every path
under `/api` needs `Authorization: Bearer <token>` (401 otherwise); `/healthz`, `/readyz`
and `/metrics` stay open. Every error is `{{"error": {{"type", "message"}}}}`
([ErrorBody](#schema-errorbody)). `OPTIONS` on a known path answers 204 with `Allow`, and a method
a path does not serve answers 405 with `Allow`.
"""


def openapi() -> dict[str, Any]:
    """The document of ``create_app`` over a Cronwell on a throwaway SQLite file, with the
    environment and any ``.env`` ignored: the document does not depend on them."""
    from cronwell.api import create_app
    from cronwell.runtime import Cronwell
    from cronwell.settings import Settings

    with tempfile.TemporaryDirectory(prefix="cronwell-docs-") as folder:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{folder}/docs.db",
            timezone="UTC",
            instance_id="docs",
        )
        cw = Cronwell(settings=settings)
        try:
            return create_app(cw).openapi()
        finally:
            cw.close()


def render_openapi() -> str:
    return json.dumps(openapi(), indent=2, ensure_ascii=False) + "\n"


def render() -> str:
    doc = openapi()
    out = [INTRO.format(note=generated_note("the FastAPI app `cronwell.api.create_app`"))]
    out.append("## Endpoints\n")
    out.append("| method | path | what |")
    out.append("|---|---|---|")
    operations = list(_operations(doc))
    for method, path, op in operations:
        out.append(
            f"| {method.upper()} | [`{path}`](#{_slug(method, path)}) | {cell(_summary(op))} |"
        )
    out.append("")
    tag = None
    for method, path, op in operations:
        first_tag = (op.get("tags") or ["other"])[0]
        if first_tag != tag:
            tag = first_tag
            out.append(f"## {tag.capitalize()}\n")
        out.extend(_operation(method, path, op))
    out.append("## Schemas\n")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        out.extend(schema_section(name, schema))
    return "\n".join(out).rstrip() + "\n"


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation, grouped by its first tag in the order tags first appear."""
    found = [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in _METHODS
    ]
    order: list[str] = []
    for _, _, op in found:
        tag = (op.get("tags") or ["other"])[0]
        if tag not in order:
            order.append(tag)
    return sorted(found, key=lambda x: order.index((x[2].get("tags") or ["other"])[0]))


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### {method.upper()} `{path}` {{#{_slug(method, path)}}}", ""]
    description = prose(op.get("description") or op.get("summary") or "")
    if description:
        lines += [description, ""]
    params = op.get("parameters") or []
    if params:
        lines += ["| parameter | in | type | required | what |", "|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            what = p.get("description") or schema.get("description") or ""
            lines.append(
                f"| `{p['name']}` | {p['in']} | {cell(type_words(schema))} "
                f"| {'yes' if p.get('required') else 'no'} | {cell(prose(what))} |"
            )
        lines.append("")
    body = op.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            lines += [f"Body ({media}): {type_words(content.get('schema', {}))}", ""]
    lines += ["| status | what | body |", "|---|---|---|"]
    for status, response in op.get("responses", {}).items():
        shapes = [
            type_words(c["schema"]) if c.get("schema") else f"`{media}`"
            for media, c in (response.get("content") or {}).items()
        ]
        lines.append(
            f"| {status} | {cell(prose(response.get('description', '')))} "
            f"| {cell(', '.join(shapes))} |"
        )
    lines.append("")
    return lines


def _summary(op: dict[str, Any]) -> str:
    text = prose(op.get("description") or op.get("summary") or "")
    first = text.split(". ")[0].split("\n")[0]
    return first.rstrip(".") + "." if first else ""


def _slug(method: str, path: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in path.lower()).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return f"{method}-{cleaned}"
