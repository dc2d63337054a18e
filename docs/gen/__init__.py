"""Generators of the reference pages that come from the code: the CLI (from the Typer app),
the settings (from the pydantic-settings model), the HTTP API (from the FastAPI app's
OpenAPI document) and tasks documents (from their JSON Schema).

``python -m docs.gen`` (``make docs-references``) writes them all;
``tests/unit/test_docs_references.py`` regenerates each one and compares it with the
committed file, so the reference never drifts from the code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
REGENERATE = "make docs-references"


def generated_note(source: str) -> str:
    """The line each generated page starts with, naming where it comes from."""
    return f"<!-- Generated from {source} by `{REGENERATE}`: edit the code, not this page. -->"


def references() -> dict[Path, Callable[[], str]]:
    """Each generated file and the function that builds its text."""
    from docs.gen import cli, http_api, settings, tasks_schema

    return {
        REFERENCE / "cli.md": cli.render,
        REFERENCE / "settings.md": settings.render,
        REFERENCE / "openapi.json": http_api.render_openapi,
        REFERENCE / "http-api.md": http_api.render,
        REFERENCE / "tasks.schema.json": tasks_schema.render,
        REFERENCE / "tasks-documents.md": tasks_schema.render_page,
    }
