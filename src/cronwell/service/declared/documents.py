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

import json
import re
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cronwell.errors import InvalidInputError
from cronwell.gcpause import collection_paused
from cronwell.service.declared.keys import SHORTHANDS, check_entry, suggest

FORMATS = ("toml", "yaml", "json")
_EXTENSIONS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
_TOP_KEYS = ("tasks", "$schema")
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
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
    ``problems`` lists them all, and the message too, one per line, in the order of the
    files and lines. Nothing was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = in_order(problems)
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{head}, nothing stored:\n" + "\n".join(map(str, self.problems)))


def in_order(problems: Sequence[Problem]) -> list[Problem]:
    """``problems`` by file (in the order they first appear) and line."""
    files: dict[str | None, int] = {}
    for problem in problems:
        files.setdefault(problem.file, len(files))
    return sorted(problems, key=lambda p: (files[p.file], p.line or 0))


@dataclass(slots=True)
class Definition:
    """One task definition of a document: ``data`` is the task as a dict (schedule
    shorthands expanded, read-only keys such as ``next_run`` dropped), with where it came
    from: its file, line, position in the file (1-based), and the line of each key (as
    written: a schedule's problems point at its shorthand). ``parsed``: ``data`` was read
    from a document, so it holds only text, numbers, booleans, null, lists, mappings,
    dates and times (the library's definitions may hold other objects)."""

    data: dict[str, Any]
    file: str | None = None
    line: int | None = None
    index: int = 0
    source: str | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict)
    parsed: bool = False

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
        return str(Problem(self.file, self._line_of(key), None, "")).removesuffix(": ")

    def problem(self, message: str, key: str | None = None) -> Problem:
        return Problem(self.file, self._line_of(key), self.label, message)

    def _line_of(self, key: str | None) -> int | None:
        if not key:
            return self.line
        lines = self.key_lines
        if key in lines:
            return lines[key]
        if key == "schedule":  # written as a shorthand
            return next((lines[k] for k in SHORTHANDS if k in lines), self.line)
        return self.line


class _KeyLines(Mapping[str, int]):
    """The line of each key of a task, found when first asked for: only a problem asks, and
    finding them would take longer than reading a large JSON document itself."""

    __slots__ = ("_find", "_lines")

    def __init__(self, find: Callable[[], dict[str, int]]) -> None:
        self._find = find
        self._lines: dict[str, int] | None = None

    def _all(self) -> dict[str, int]:
        if self._lines is None:
            self._lines = self._find()
        return self._lines

    def __getitem__(self, key: str) -> int:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


@dataclass(slots=True)
class _Entry:
    value: Any
    line: int | None
    key_lines: Mapping[str, int]


def source_of(path: str | Path) -> str:
    """The source a document's tasks get by default: the file's name (``stdin`` for
    ``-``)."""
    name = str(path)
    return STDIN_SOURCE if name == STDIN else Path(name).name


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
    with collection_paused():  # a document of many tasks: as many new objects
        return _read_documents(paths, fmt, text)


def _read_documents(
    paths: Sequence[str | Path], fmt: str | None, text: str | None
) -> tuple[list[Definition], list[Problem]]:
    definitions: list[Definition] = []
    problems: list[Problem] = []
    for path in paths:
        name = str(path)
        shown = "<stdin>" if name == STDIN else name
        source = source_of(name)
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
            definition = Definition(
                {}, shown, entry.line, index, source, entry.key_lines, parsed=True
            )
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
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(file, exc.lineno, None, f"invalid JSON: {exc.msg}.")]
    tasks, problems = _tasks_of(data, file, bare_list=True)
    if tasks is None:
        return [], problems
    # walked again to learn where each task starts: json gives no positions
    walker = _JsonWalker(text)
    at = walker.skip(0)
    if isinstance(data, dict):
        if "tasks" not in data:
            return [], problems
        at = next(v for key, _k, v in walker.members(at) if key == "tasks")
    entries = []
    line, counted = 1, 0
    for value, position in zip(tasks, walker.elements(at), strict=True):
        line += text.count("\n", counted, position)
        counted = position
        key_lines: Mapping[str, int] = (
            _KeyLines(partial(walker.key_lines, position, line)) if isinstance(value, dict) else {}
        )
        entries.append(_Entry(value, line, key_lines))
    return entries, problems


class _JsonWalker:
    """Positions in a JSON text already known to be valid."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._decode = json.JSONDecoder().raw_decode

    def skip(self, position: int) -> int:
        return _SPACE.match(self.text, position).end()  # type: ignore[union-attr]

    def end(self, position: int) -> int:
        """Where the value at ``position`` ends."""
        return self._decode(self.text, position)[1]

    def key_lines(self, position: int, line: int) -> dict[str, int]:
        """The line of each key of the object at ``position``, which is on ``line``."""
        count = self.text.count
        return {key: line + count("\n", position, at) for key, at, _v in self.members(position)}

    def members(self, position: int) -> Iterator[tuple[str, int, int]]:
        """``(key, key position, value position)`` of the object at ``position``."""
        text = self.text
        position = self.skip(position + 1)
        while text[position] != "}":
            key, end = self._decode(text, position)
            value_at = self.skip(self.skip(end) + 1)  # past the colon
            yield key, position, value_at
            position = self.skip(self.end(value_at))
            if text[position] == ",":
                position = self.skip(position + 1)

    def elements(self, position: int) -> Iterator[int]:
        """The position of each element of the array at ``position``."""
        text = self.text
        position = self.skip(position + 1)
        while text[position] != "]":
            yield position
            position = self.skip(self.end(position))
            if text[position] == ",":
                position = self.skip(position + 1)


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
