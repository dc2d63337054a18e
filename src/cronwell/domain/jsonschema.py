"""Adjustments of the JSON schema pydantic writes, so that it says what validation requires."""

from __future__ import annotations

from typing import Any


def kind_required(schema: dict[str, Any]) -> None:
    """Mark ``kind`` required: it defaults for code that builds the model directly, but a
    schedule or action sent as JSON is told apart by its ``kind`` (a discriminated union),
    so JSON without it is refused."""
    required: list[str] = schema.setdefault("required", [])
    if "kind" not in required:
        required.insert(0, "kind")
