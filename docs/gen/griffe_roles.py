"""A griffe extension for the Python API page: cronwell's docstrings use reST's roles
(``:class:`~cronwell.x.Y```) and literal blocks (``::``), which Markdown shows as typed.
This turns each role into a code span of the name as Sphinx would print it, and drops the
``::`` markers (the indented block under them is already code in Markdown)."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|exc|data|obj):`(~?)([^`]+)`")


def markdown_docstring(text: str) -> str:
    """``text`` with reST roles as code spans and ``::`` markers removed."""

    def role(match: re.Match[str]) -> str:
        short, target = match.groups()
        name = target.rsplit(".", 1)[-1] if short else target
        return f"`{name}`"

    text = _ROLE.sub(role, text)
    lines = []
    for line in text.splitlines():
        if line.strip() == "::":
            continue
        lines.append(line[:-1] if line.endswith("::") else line)
    return "\n".join(lines)


class ReSTRoles(griffe.Extension):
    """Rewrites each docstring once its object is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
