"""Rendering alerts: default titles and bodies, limits, and template overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cronwell.domain.alerts import Alert, AlertEvent
from cronwell.errors import ConfigError
from cronwell.notify.message import (
    ERROR_SUMMARY_LIMIT,
    OUTPUT_TAIL_LIMIT,
    TemplateSet,
    fenced,
    human_duration,
    one_line,
    render,
    tail,
)

PARIS = ZoneInfo("Europe/Paris")


def alert(**kwargs: Any) -> Alert:
    values: dict[str, Any] = {
        "event": AlertEvent.FAILED,
        "title": "nightly-backup failed",
        "task_id": "nightly-backup",
        "schedule": "every day at 02:00 (Europe/Paris)",
        "occurrence": datetime(2024, 4, 1, 2, 30, tzinfo=PARIS),
        "attempt": 3,
        "duration": 75.0,
        "error": "RuntimeError: disk full",
        "output_excerpt": "copying\ndone",
        "run_id": 42,
        "link": "https://cronwell.example/runs/42",
    }
    values.update(kwargs)
    return Alert(**values)


@pytest.mark.parametrize(
    ("changes", "title", "notify_type"),
    [
        ({}, "❌ nightly-backup failed", "failure"),
        (
            {"event": AlertEvent.RECOVERED, "failures": 3},
            "✅ nightly-backup recovered after 3 failures",
            "success",
        ),
        (
            {"event": AlertEvent.RECOVERED, "failures": 1},
            "✅ nightly-backup recovered after 1 failure",
            "success",
        ),
        ({"event": AlertEvent.RECOVERED}, "✅ nightly-backup recovered", "success"),
        ({"event": AlertEvent.MISSED}, "⚠️ nightly-backup missed", "warning"),
        ({"event": AlertEvent.TIMED_OUT}, "❌ nightly-backup timed out", "failure"),
        (
            {"event": AlertEvent.AUTO_PAUSED, "failures": 5},
            "❌ nightly-backup paused after 5 failures",
            "failure",
        ),
        (
            {"event": AlertEvent.RETRYING, "attempt": 2},
            "⚠️ nightly-backup failed (attempt 2), retrying",
            "warning",
        ),
        ({"event": AlertEvent.SUCCEEDED}, "✅ nightly-backup succeeded", "success"),
        (
            {"event": AlertEvent.LONG_RUNNING, "duration": 3900},
            "⚠️ nightly-backup is still running after 1 h 5 min",
            "warning",
        ),
        (
            {"event": AlertEvent.STARTED, "task_id": None, "title": "Scheduler started"},
            "ℹ️ Scheduler started",
            "info",
        ),
        (
            {"event": AlertEvent.CONFIG_REJECTED, "task_id": None, "title": "rejected (2)"},
            "⚠️ Tasks file rejected, nothing changed",
            "warning",
        ),
        (
            {"task_name": "Nightly backup"},
            "❌ Nightly backup failed",
            "failure",
        ),
    ],
)
def test_default_titles(changes: dict[str, Any], title: str, notify_type: str) -> None:
    rendered = render(alert(**changes))
    assert rendered.title == title
    assert rendered.notify_type == notify_type
    assert "\n" not in rendered.title


def test_default_body_lists_the_facts() -> None:
    body = render(alert(task_name="Nightly backup")).body
    assert "- **Task:** Nightly backup (`nightly-backup`)" in body
    assert "- **Schedule:** every day at 02:00 (Europe/Paris)" in body
    assert "- **Occurrence:** 2024-04-01T02:30:00+02:00" in body
    assert "- **Attempt:** 3" in body
    assert "- **Duration:** 1 min 15 s" in body
    assert "- **Error:** RuntimeError: disk full" in body
    assert "```\ncopying\ndone\n```" in body
    assert body.endswith("[Open the run](https://cronwell.example/runs/42)")


def test_a_rejected_tasks_file_lists_its_problems_in_the_body() -> None:
    problems = "tasks.toml:3: task a: cron: bad\ntasks.toml:9: task b: unknown key 'evry'"
    rendered = render(
        Alert(
            event=AlertEvent.CONFIG_REJECTED,
            title="cronwell web-1 rejected its tasks files (2 problems); nothing changed",
            details={"reason": "SIGHUP", "files": "tasks.toml", "problems": problems},
        )
    )
    assert "- **files:** tasks.toml" in rendered.body
    assert "- **reason:** SIGHUP" in rendered.body
    assert f"**Problems:**\n{problems}" in rendered.body


def test_body_leaves_out_what_is_unknown() -> None:
    body = render(
        Alert(event=AlertEvent.MISSED, title="x missed", task_id="x", schedule="hourly")
    ).body
    assert body == "- **Task:** x\n- **Schedule:** hourly"


def test_a_body_with_nothing_to_say_repeats_the_title() -> None:
    rendered = render(Alert(event=AlertEvent.TEST, title="Test alert from cronwell"))
    assert rendered.title == "ℹ️ Test alert from cronwell"
    assert rendered.body == "Test alert from cronwell"


def test_details_are_listed() -> None:
    body = render(alert(details={"host": "db1", "exit code": 2})).body
    assert "- **host:** db1" in body
    assert "- **exit code:** 2" in body


def test_multi_line_details_come_as_paragraphs() -> None:
    summary = "- backup: daily at 02:00\n- report: hourly"
    rendered = render(
        Alert(event=AlertEvent.SUMMARY, title="Scheduled tasks", details={"summary": summary})
    )
    assert rendered.title == "ℹ️ Scheduled tasks"
    assert rendered.body == f"**Summary:**\n{summary}"


def test_the_error_is_one_line_of_at_most_300_characters() -> None:
    long_error = "ValueError: " + "bad value\n  " * 100
    body = render(alert(error=long_error)).body
    (line,) = [ln for ln in body.splitlines() if ln.startswith("- **Error:**")]
    summary = line.removeprefix("- **Error:** ")
    assert len(summary) <= ERROR_SUMMARY_LIMIT
    assert summary.endswith("…")
    assert summary.startswith("ValueError: bad value bad value")


def test_a_traceback_is_summed_up_by_its_last_line() -> None:
    error = "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'k'\n"
    assert one_line(error) == "KeyError: 'k'"


def test_the_output_excerpt_is_the_end_of_the_output() -> None:
    output = "".join(f"line {i}\n" for i in range(1000))
    body = render(alert(output_excerpt=output)).body
    block = body.split("```\n", 1)[1].split("\n```", 1)[0]
    assert len(block) <= OUTPUT_TAIL_LIMIT
    assert block.startswith("…")
    assert block.endswith("line 999")
    assert "line 0\n" not in block
    assert "**Output** (end):" in body


def test_backticks_in_the_output_cannot_close_the_fence() -> None:
    body = render(alert(output_excerpt="before\n```\nafter")).body
    fence_lines = [ln for ln in body.splitlines() if ln.strip() == "```"]
    assert len(fence_lines) == 2


def test_filters() -> None:
    assert tail("abcdef", 4) == "…def"
    assert tail("abc", 4) == "abc"
    assert fenced("x", "text") == "```text\nx\n```"
    assert human_duration(3.25) == "3.2 s"
    assert human_duration(42) == "42 s"
    assert human_duration(120) == "2 min"
    assert human_duration(7200) == "2 h"
    assert human_duration(90000) == "1 d 1 h"
    assert one_line("a\n\n  b\tc") == "a b c"


def test_an_occurrence_in_utc_is_shown_in_utc() -> None:
    body = render(alert(occurrence=datetime(2024, 1, 1, tzinfo=UTC))).body
    assert "2024-01-01T00:00:00+00:00" in body


# -- overrides ------------------------------------------------------------------------------


def test_templates_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "title.j2").write_text("[{{ severity }}] {{ task }}: {{ event }}")
    (tmp_path / "failed.body.j2").write_text(
        "{% include 'footer.j2' %} {{ error }} at {{ occurrence }}"
    )
    (tmp_path / "footer.j2").write_text("FOOT")
    (tmp_path / "README.md").write_text("ignored")
    templates = TemplateSet.from_directory(tmp_path)

    failed = render(alert(), templates)
    assert failed.title == "[failure] nightly-backup: failed"
    assert failed.body == "FOOT RuntimeError: disk full at 2024-04-01T02:30:00+02:00"

    missed = render(alert(event=AlertEvent.MISSED), templates)
    assert missed.title == "[warning] nightly-backup: missed"
    assert missed.body.startswith("- **Task:** nightly-backup")  # default body


def test_templates_from_strings_per_event() -> None:
    templates = TemplateSet.from_strings(events={AlertEvent.RECOVERED: ("back: {{ task }}", None)})
    assert render(alert(event=AlertEvent.RECOVERED), templates).title == "back: nightly-backup"
    assert render(alert(), templates).title == "❌ nightly-backup failed"


def test_a_broken_template_names_the_file_and_says_what_jinja_says(tmp_path: Path) -> None:
    (tmp_path / "body.j2").write_text("ok\n{% if alert.error %}\nunclosed")
    with pytest.raises(ConfigError) as caught:
        TemplateSet.from_directory(tmp_path)
    message = str(caught.value)
    assert "body.j2" in message
    assert str(tmp_path) in message
    assert "line 3" in message
    assert "Unexpected end of template" in message


def test_a_broken_partial_is_reported_too(tmp_path: Path) -> None:
    (tmp_path / "title.j2").write_text("{{ task }}")
    (tmp_path / "part.j2").write_text("{{ oops ")
    with pytest.raises(ConfigError, match=r"part\.j2"):
        TemplateSet.from_directory(tmp_path)


def test_an_unknown_event_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "faild.body.j2").write_text("x")
    with pytest.raises(ConfigError, match=r"faild\.body\.j2.*'faild'.*failed, recovered"):
        TemplateSet.from_directory(tmp_path)


def test_a_missing_or_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TemplateSet.from_directory(tmp_path / "nope")
    with pytest.raises(ConfigError, match="No alert templates"):
        TemplateSet.from_directory(tmp_path)


def test_a_template_failing_at_render_time_raises_config_error(tmp_path: Path) -> None:
    (tmp_path / "title.j2").write_text("{{ alert.no_such_field }}")
    templates = TemplateSet.from_directory(tmp_path)
    with pytest.raises(ConfigError, match=r"title\.j2.*no_such_field"):
        render(alert(), templates)


def test_templates_are_sandboxed() -> None:
    templates = TemplateSet.from_strings(title="{{ alert.__class__.__mro__ }}")
    with pytest.raises(ConfigError):
        render(alert(), templates)


def test_no_html_escaping() -> None:
    templates = TemplateSet.from_strings(body="{{ error }}")
    assert render(alert(error="a < b & c"), templates).body == "a < b & c"
