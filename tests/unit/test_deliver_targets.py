"""Delivery targets as data: how results are rendered per format, the file a run writes,
the shorthand in tasks documents, and secrets hidden wherever a task is shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cronwell.domain.run import Run, RunStatus
from cronwell.domain.task import Task
from cronwell.errors import InvalidTaskError
from cronwell.notify.files import write_file
from cronwell.notify.redact import redacted_task
from cronwell.notify.results import file_name, render_value
from cronwell.service.declared.dump import export_definition
from cronwell.service.declared.keys import check_entry


def _task(**fields: object) -> Task:
    return Task.parse(
        {
            "id": "summary",
            "schedule": {"kind": "cron", "cron": "0 9 * * *"},
            "action": {"kind": "shell", "command": "true"},
            **fields,
        }
    )


def _run(when: datetime) -> Run:
    return Run(id=7, task_id="summary", scheduled_for=when, status=RunStatus.SUCCEEDED)


def test_each_format_renders_text_and_data() -> None:
    data = {"messages": 42, "when": datetime(2026, 1, 15, 9, tzinfo=UTC)}
    assert render_value("# Title", "markdown") == "# Title"
    assert render_value("# Title", "text") == "# Title"
    assert render_value("# Title\n\n**bold**", "html").startswith("<h1>Title</h1>")
    assert render_value("<p>kept</p>", "html") == "<p>kept</p>"
    assert json.loads(render_value(data, "json")) == {
        "messages": 42,
        "when": "2026-01-15T09:00:00+00:00",
    }
    assert render_value('{"already": "json"}', "json") == '{"already": "json"}'
    assert json.loads(render_value("plain words", "json")) == "plain words"
    assert render_value(data, "markdown").startswith("```json\n{")
    assert (
        render_value({"a": "<b>"}, "html")
        == "<pre>{\n  &quot;a&quot;: &quot;&lt;b&gt;&quot;\n}</pre>"
    )
    assert render_value(b"bytes", "text") == "bytes"


def test_a_run_writes_a_file_named_after_its_task_and_occurrence(tmp_path: Path) -> None:
    task = _task()
    run = _run(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    assert file_name(task, run, "markdown") == "summary-20260115T090000Z.md"
    assert file_name(task, run, "json", 2) == "summary-20260115T090000Z-2.json"
    odd = _run(datetime(2026, 1, 15, 9, 0, 0, 250000, tzinfo=UTC))
    assert file_name(task, odd, "html") == "summary-20260115T090000.250000Z.html"
    folder = tmp_path / "deep" / "er"
    assert write_file(f"file://{folder}/", "hello", "a.md") is None
    assert (folder / "a.md").read_text() == "hello\n"
    assert write_file(f"file://{folder}/latest.md", "new\n", "ignored.md") is None
    assert (folder / "latest.md").read_text() == "new\n"
    assert sorted(p.name for p in folder.iterdir()) == ["a.md", "latest.md"]
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    problem = write_file(f"file://{blocked}/", "x", "b.md")
    assert problem is not None and str(blocked) in problem


def test_targets_read_as_shorthand_and_export_back() -> None:
    entry = {
        "id": "summary",
        "cron": "0 9 * * *",
        "action": {"kind": "shell", "command": "true"},
        "deliver": ["dev", {"to": "json://hooks.example/summary", "format": "json"}],
    }
    data, problems = check_entry(entry)
    assert problems == []
    task = Task.parse(data)
    assert [(t.to, t.format) for t in task.deliver] == [
        ("dev", "markdown"),
        ("json://hooks.example/summary", "json"),
    ]
    assert export_definition(task)["deliver"] == [
        "dev",
        {"to": "json://hooks.example/summary", "format": "json"},
    ]
    _, problems = check_entry({**entry, "deliver": [{"to": "dev", "fromat": "json"}]})
    assert problems == [
        ("deliver", "unknown key 'fromat' in a delivery target; did you mean 'format'?")
    ]


def test_delivery_urls_are_masked_where_a_task_is_shown_but_folders_are_not() -> None:
    token = "aVeryLongWebhookTokenValue_0123456789"
    task = _task(
        deliver=[
            f"discord://123456/{token}",
            "file:///srv/summaries_of_the_engineering_channel/",
            "dev",
        ]
    )
    shown = redacted_task(task)
    assert token not in json.dumps(shown.model_dump(mode="json"))
    assert [t.to for t in shown.deliver][1:] == [
        "file:///srv/summaries_of_the_engineering_channel/",
        "dev",
    ]
    assert task.deliver[0].to.endswith(token)  # the task itself keeps it


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("file://relative/dir/", "absolute file URL"),
        ("  ", "needs an Apprise URL"),
        ({"to": "dev", "format": "pdf"}, "format"),
    ],
)
def test_bad_targets_say_what_is_wrong(target: object, words: str) -> None:
    with pytest.raises(InvalidTaskError, match=words):
        _task(deliver=[target])
