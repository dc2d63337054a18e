"""Tasks documents: a list of task definitions in TOML, YAML or JSON, read with the line of
each task so that every problem can say ``FILE:LINE: task ID: sentence``.

One shape in three spellings (the spelling chosen by the file's extension, or ``fmt``)::

    [[tasks]]                       tasks:                       {"tasks": [
    id = "nightly"                  - id: nightly                  {"id": "nightly",
    cron = "30 2 * * *"               cron: "30 2 * * *"            "cron": "30 2 * * *",
    action = { kind = "shell",        action:                       "action": {...}}
      command = "backup" }              kind: shell               ]}
                                        command: backup

YAML and JSON may also be a bare list of tasks (what ``cronwell tasks list --json``
prints). Reading checks the document's shape and every key (:mod:`.keys`); whether each
definition makes a valid task is :func:`~cronwell.service.declared.checks.check_definitions`'s
business, which needs no database either.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronwell.errors import InvalidInputError
from cronwell.service.declared.keys import check_entry, suggest

FORMATS = ("toml", "yaml", "json")
_EXTENSIONS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
_TOP_KEYS = ("tasks", "$schema")
STDIN = "-"
STDIN_SOURCE = "stdin"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a tasks document; ``str()`` is ``FILE:LINE: task ID: sentence``
    with the parts that are not known left out."""

    file: str | None
    line: int | None
    task_id: str | None
    message: str

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        elif self.line:
            parts.append(f"line {self.line}")
        if self.task_id:
            parts.append(f"task {self.task_id}")
        parts.append(self.message)
        return ": ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "task": self.task_id, "message": self.message}


class DocumentError(InvalidInputError):
    """A tasks document (or the definitions handed to a plan or an apply) has problems;
    ``problems`` lists them all, and the message too, one per line. Nothing was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{head}, nothing stored:\n" + "\n".join(map(str, self.problems)))


@dataclass(slots=True)
class Definition:
    """One task definition of a document: ``data`` is the task as a dict (schedule
    shorthands expanded, read-only keys such as ``next_run`` dropped), with where it came
    from: its file, line, position in the file (1-based), and the line of each key."""

    data: dict[str, Any]
    file: str | None = None
    line: int | None = None
    index: int = 0
    source: str | None = None
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str | None:
        value = self.data.get("id")
        return value if isinstance(value, str) else None

    @property
    def label(self) -> str | None:
        """How problems name the task: its id, or its position when it has none."""
        return self.id or (f"#{self.index}" if self.index else None)

    def where(self, key: str | None = None) -> str:
        """``FILE:LINE`` of the task (or of one of its keys), as problems print it."""
        line = self.key_lines.get(key, self.line) if key else self.line
        return str(Problem(self.file, line, None, "")).removesuffix(": ")

    def problem(self, message: str, key: str | None = None) -> Problem:
        line = self.key_lines.get(key, self.line) if key else self.line
        return Problem(self.file, line, self.label, message)


@dataclass(slots=True)
class _Entry:
    value: Any
    line: int | None
    key_lines: dict[str, int]


def load_documents(
    paths: Sequence[str | Path], *, fmt: str | None = None, text: str | None = None
) -> list[Definition]:
    """The definitions of the documents at ``paths``, in order; :class:`DocumentError`
    listing every problem of shape and keys found in any of them. ``-`` reads standard
    input (``fmt`` then names the spelling); ``text`` stands for the content of the one
    path given."""
    definitions, problems = read_documents(paths, fmt=fmt, text=text)
    if problems:
        raise DocumentError(problems)
    return definitions


def read_documents(
    paths: Sequence[str | Path], *, fmt: str | None = None, text: str | None = None
) -> tuple[list[Definition], list[Problem]]:
    """Like :func:`load_documents`, but returns the problems with the definitions that
    could be read (a key that is not known is left out of its definition), so that a
    validation can report everything at once."""
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInputError(f"Unknown format {fmt!r}; use toml, yaml or json.")
    if text is not None and len(paths) != 1:
        raise InvalidInputError("Document text stands for one path only.")
    definitions: list[Definition] = []
    problems: list[Problem] = []
    for path in paths:
        name = str(path)
        shown = "<stdin>" if name == STDIN else name
        source = STDIN_SOURCE if name == STDIN else Path(name).name
        kind = fmt or _EXTENSIONS.get(Path(name).suffix.lower())
        if kind is None:
            problems.append(
                Problem(
                    shown,
                    None,
                    None,
                    "cannot tell the format: name the file .toml, .yaml, .yml or .json, "
                    "or give --format.",
                )
            )
            continue
        if text is not None:
            body = text
        elif name == STDIN:
            body = sys.stdin.read()
        else:
            try:
                body = Path(name).read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(Problem(shown, None, None, f"cannot read it: {exc.strerror}."))
                continue
            except UnicodeDecodeError:
                problems.append(Problem(shown, None, None, "it is not UTF-8 text."))
                continue
        entries, found = _parse(kind, body, shown)
        problems += found
        for index, entry in enumerate(entries, 1):
            definition = Definition({}, shown, entry.line, index, source, dict(entry.key_lines))
            if not isinstance(entry.value, dict):
                problems.append(
                    definition.problem(
                        f"each task must be a {'table' if kind == 'toml' else 'mapping'} "
                        f"of keys, not {_kind_of(entry.value)}."
                    )
                )
                continue
            definition.data, key_problems = check_entry(entry.value)
            problems += [definition.problem(message, key) for key, message in key_problems]
            definitions.append(definition)
    return definitions, problems


def definitions_from_data(
    entries: Sequence[Any], *, source: str | None = None
) -> tuple[list[Definition], list[Problem]]:
    """Definitions from task dicts already parsed (an API body), checked as a document's."""
    definitions: list[Definition] = []
    problems: list[Problem] = []
    for index, value in enumerate(entries, 1):
        definition = Definition({}, None, None, index, source)
        if not isinstance(value, dict):
            problems.append(definition.problem(f"a task must be an object, not {_kind_of(value)}."))
            continue
        definition.data, key_problems = check_entry(value)
        problems += [definition.problem(message) for _key, message in key_problems]
        definitions.append(definition)
    return definitions, problems


# -- parsing, with lines ------------------------------------------------------------------


def _parse(kind: str, text: str, file: str) -> tuple[list[_Entry], list[Problem]]:
    if kind == "toml":
        return _parse_toml(text, file)
    if kind == "yaml":
        return _parse_yaml(text, file)
    return _parse_json(text, file)


def _tasks_of(data: Any, file: str, *, bare_list: bool) -> tuple[list[Any] | None, list[Problem]]:
    """The list of tasks in a parsed document, or ``None`` with the problem."""
    if bare_list and isinstance(data, list):
        return data, []
    if isinstance(data, dict):
        problems = [
            Problem(file, None, None, f"unknown top-level key {key!r}{suggest(key, _TOP_KEYS)}")
            for key in data
            if key not in _TOP_KEYS
        ]
        tasks = data.get("tasks", [])
        if isinstance(tasks, list):
            return tasks, problems
    shape = "a list of tasks under 'tasks'" + (", or a bare list of tasks" if bare_list else "")
    return None, [Problem(file, None, None, f"expected {shape}.")]


def _parse_toml(text: str, file: str) -> tuple[list[_Entry], list[Problem]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(found[1]) if found else None
        return [], [Problem(file, line, None, f"invalid TOML: {exc}.")]
    tasks, problems = _tasks_of(data, file, bare_list=False)
    if tasks is None:
        return [], problems
    lines = text.splitlines()
    headers = [n for n, line in enumerate(lines) if re.match(r"\s*\[\[\s*tasks\s*\]\]", line)]
    entries = []
    for index, value in enumerate(tasks):
        if len(headers) != len(tasks):  # ``tasks = [...]``: no line for each
            entries.append(_Entry(value, None, {}))
            continue
        start = headers[index]
        key_lines: dict[str, int] = {}
        for offset, text_line in enumerate(lines[start + 1 :], start + 2):
            if re.match(r"\s*\[", text_line):
                break
            key = re.match(r'\s*([A-Za-z0-9_-]+|"[^"]*")\s*[=.]', text_line)
            if key:
                key_lines.setdefault(key[1].strip('"'), offset)
        entries.append(_Entry(value, start + 1, key_lines))
    return entries, problems


def _parse_yaml(text: str, file: str) -> tuple[list[_Entry], list[Problem]]:
    import yaml  # only for YAML documents

    from cronwell.service.declared.yamlio import Loader

    loader = Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(getattr(exc, "problem", "") or exc).split())
        return [], [Problem(file, line, None, f"invalid YAML: {reason}.")]
    finally:
        loader.dispose()
    tasks, problems = _tasks_of(data, file, bare_list=True)
    if tasks is None:
        return [], problems
    sequence = node
    if isinstance(node, yaml.MappingNode):
        sequence = next((v for k, v in node.value if k.value == "tasks"), None)
    items = sequence.value if isinstance(sequence, yaml.SequenceNode) else []
    entries = []
    for index, value in enumerate(tasks):
        item = items[index] if index < len(items) else None
        if item is None:
            entries.append(_Entry(value, None, {}))
            continue
        key_lines = (
            {str(k.value): k.start_mark.line + 1 for k, _v in item.value}
            if isinstance(item, yaml.MappingNode)
            else {}
        )
        entries.append(_Entry(value, item.start_mark.line + 1, key_lines))
    return entries, problems


def _parse_json(text: str, file: str) -> tuple[list[_Entry], list[Problem]]:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(file, exc.lineno, None, f"invalid JSON: {exc.msg}.")]
    # walked again to learn where each task starts: json gives no positions
    walker = _JsonWalker(text)
    start = walker.skip(0)
    data, _ = walker.decode(start)
    tasks, problems = _tasks_of(data, file, bare_list=True)
    if tasks is None:
        return [], problems
    at = start
    if isinstance(data, dict):
        if "tasks" not in data:
            return [], problems
        at = next(v for key, _k, v in walker.members(start) if key == "tasks")
    entries = []
    for value, position in zip(tasks, walker.elements(at), strict=True):
        key_lines = (
            {key: walker.line(k) for key, k, _v in walker.members(position)}
            if isinstance(value, dict)
            else {}
        )
        entries.append(_Entry(value, walker.line(position), key_lines))
    return entries, problems


class _JsonWalker:
    """Positions in a JSON text already known to be valid."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._decoder = json.JSONDecoder()
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, position: int) -> int:
        return bisect.bisect_left(self._newlines, position) + 1

    def skip(self, position: int) -> int:
        while position < len(self.text) and self.text[position] in " \t\r\n":
            position += 1
        return position

    def decode(self, position: int) -> tuple[Any, int]:
        return self._decoder.raw_decode(self.text, position)

    def members(self, position: int) -> Iterator[tuple[str, int, int]]:
        """``(key, key position, value position)`` of the object at ``position``."""
        position = self.skip(position + 1)
        while self.text[position] != "}":
            key, end = self.decode(position)
            value_at = self.skip(self.skip(end) + 1)  # past the colon
            yield key, position, value_at
            _, end = self.decode(value_at)
            position = self.skip(end)
            if self.text[position] == ",":
                position = self.skip(position + 1)

    def elements(self, position: int) -> Iterator[int]:
        """The position of each element of the array at ``position``."""
        position = self.skip(position + 1)
        while self.text[position] != "]":
            yield position
            _, end = self.decode(position)
            position = self.skip(end)
            if self.text[position] == ",":
                position = self.skip(position + 1)


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
