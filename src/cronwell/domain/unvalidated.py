"""Pydantic models built from values cronwell made itself, without validating them again.

A start-up reads every stored task and the writer finishes every run; validating values
that were validated when written was most of what building those objects cost.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)


def assemble(cls: type[_M], values: dict[str, Any], fields_set: set[str]) -> _M:
    """The ``cls`` instance holding ``values`` (every field, in declaration order, each
    already of its type), as validation would have built it. ``fields_set`` may be
    shared by every instance: pydantic copies it before any change (``model_copy``)."""
    model = cls.__new__(cls)
    setattr_ = object.__setattr__
    setattr_(model, "__dict__", values)
    setattr_(model, "__pydantic_fields_set__", fields_set)
    setattr_(model, "__pydantic_extra__", None)
    setattr_(model, "__pydantic_private__", None)
    return model
