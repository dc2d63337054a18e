"""The lines of a JSON tasks document's problems: each task's line is counted as the
document is read, the line of each key only when a problem asks for it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from cronwell.service.declared import check_definitions, read_documents

DOCUMENT = """\
{
  "$schema": "https://cronwell.dev/schema/tasks.schema.json",
  "tasks": [
    {
      "id": "first",
      "cron": "0 8 * * *",
      "action": {"kind": "shell", "command": "true"}
    },
    {
      "id": "typo",
      "cron": "0 9 * * *",
      "retires": 3,
      "action": {
        "kind": "shell",
        "comand": "true"
      }
    },
    {"id": "inline", "every": "1h", "action": {"kind": "shell", "command": "true"}},
    {
      "id": "badcron",
      "description": "a schedule problem points at its shorthand",
      "cron": "0 8 * *",
      "action": {"kind": "shell", "command": "true"}
    },
    {
      "id": "first",
      "cron": "0 10 * * *",
      "action": {"kind": "shell", "command": "true"}
    }
  ]
}
"""


def test_every_problem_names_the_line_of_its_task_or_key(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(DOCUMENT)
    definitions, problems = read_documents([path])
    assert [(d.id, d.line) for d in definitions] == [
        ("first", 4),
        ("typo", 9),
        ("inline", 18),
        ("badcron", 19),
        ("first", 25),
    ]
    problems += check_definitions(definitions, default_timezone="UTC").problems
    messages = {str(p).removeprefix(f"{path}:") for p in problems}
    assert any(m.startswith("12: task typo: unknown key 'retires'") for m in messages), messages
    # a key of the action: the line of the action
    assert any(m.startswith("13: task typo: unknown key 'comand'") for m in messages), messages
    # a schedule written as a shorthand: the shorthand's line
    assert any(m.startswith("22: task badcron: Cron expression") for m in messages), messages
    assert f"26: task first: duplicate id 'first': also defined at {path}:4." in messages
    assert "13: task typo: action.shell.command: Field required" in messages
    assert len(messages) == 5


def test_a_bare_list_and_a_one_line_document(tmp_path: Path) -> None:
    path = tmp_path / "bare.json"
    path.write_text(
        textwrap.dedent(
            """\
            [{"id": "a", "cron": "0 8 * * *", "action": {"kind": "shell", "command": "x"}},
             {"id": "b", "cron": "0 8 * * *", "bogus": 1,
              "action": {"kind": "shell", "command": "x"}}]
            """
        )
    )
    definitions, problems = read_documents([path])
    assert [(d.id, d.line) for d in definitions] == [("a", 1), ("b", 2)]
    assert [str(p) for p in problems] == [f"{path}:2: task b: unknown key 'bogus'."]
