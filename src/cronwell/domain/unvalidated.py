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


class ReadOnlyList(list):  # type: ignore[type-arg]
    """A list many models hold at once (the engine's tasks of a fleet share their tags):
    it reads, compares, copies and serialises as a list, and refuses every change, which
    would otherwise show up in every model holding it. Copy it (``list(...)``) to change
    it."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "This list is shared by many tasks and cannot be changed; copy it with list() "
            "and set the copy, or change the task through the store."
        )

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: object) -> tuple[type[ReadOnlyList], tuple[list[object]]]:
        # copy and pickle rebuild it from a plain list, without the refused appends
        return type(self), (list(self),)
