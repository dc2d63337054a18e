"""Tasks as code through the real CLI: validate, plan, apply, export and import in
subprocesses, against real files and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema_rs
import pytest

from cronwell.domain.run import RunStatus
from cronwell.domain.task import SYSTEM_SOURCE
from cronwell.runtime import Cronwell
from cronwell.runtime.maintenance import maintenance_task
from cronwell.service.declared import schema_text
from cronwell.store import NewRun, Store

ROOT = Path(__file__).resolve().parents[2]


def cronwell(
    *args: str, db: str | None = None, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "CRONWELL_TIMEZONE": "Europe/Paris"}
    env.pop("CRONWELL_DATABASE_URL", None)
    if db:
        env["CRONWELL_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "cronwell", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        input=stdin,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def stored(db: str) -> dict[str, str | None]:
    """Task id -> source, as stored."""
    store = Store(db)
    try:
        store.upgrade()
        return {task.id: task.source for task in store.list_tasks()}
    finally:
        store.close()


TWO = """
    [[tasks]]
    id = "report"
    description = "The morning report."
    cron = "0 8 * * 1-5"
    action = { kind = "shell", command = "echo report" }

    [[tasks]]
    id = "beat"
    every = "10m"
    action = { kind = "shell", command = "echo beat" }
"""


def test_validate_reports_every_problem_with_its_file_and_line_and_creates_no_database(
    tmp_path: Path,
) -> None:
    bad = write(
        tmp_path / "bad.toml",
        """
        [[tasks]]
        id = "ok"
        cron = "0 8 * * *"
        action = { kind = "shell", command = "true" }

        [[tasks]]
        id = "badcron"
        cron = "0 8 * *"
        timezone = "Europe/Pari"
        action = { kind = "shell", command = "true" }

        [[tasks]]
        id = "ok"
        every = "5m"
        action = { kind = "shell", command = "true" }

        [[tasks]]
        id = "nofunc"
        every = "5m"
        action = { kind = "python", func = "no_such_module_here:job" }
        retires = 3
        """,
    )
    bad_yaml = write(
        tmp_path / "more.yaml",
        """
        tasks:
          - id: y1
            daily: 17:00
            action: {kind: shell, command: "true"}
          - id: y2
            cron: "61 8 * * *"
            action: {kind: shell, command: "true"}
        """,
    )
    bad_json = write(
        tmp_path / "more.json",
        """
        {"tasks": [
          {"id": "j1", "every": "1h", "action": {"kind": "shell", "comand": "true"}}
        ]}
        """,
    )
    db = tmp_path / "never.db"
    result = cronwell("validate", str(bad), str(bad_yaml), str(bad_json), db=f"sqlite:///{db}")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    expected = [
        f"{bad}:8: task badcron: Cron expression '0 8 * *' has 4 fields",
        f"{bad}:9: task badcron: Unknown time zone 'Europe/Pari'. Did you mean 'Europe/Paris'",
        f"{bad}:13: task ok: duplicate id 'ok': also defined at {bad}:1.",
        f"{bad}:20: task nofunc: cannot import module 'no_such_module_here'",
        f"{bad}:21: task nofunc: unknown key 'retires'; did you mean 'retries'?",
        f"{bad_yaml}:6: task y2: Invalid minute field '61'",
        f"{bad_json}:2: task j1: unknown key 'comand' in the shell action; did you mean 'command'?",
    ]
    for fragment in expected:
        assert any(line.startswith(fragment) for line in lines), (fragment, result.stderr)
    assert not db.exists()  # no database opened, created or migrated
    good = write(tmp_path / "good.toml", TWO)
    valid = cronwell("validate", str(good), db=f"sqlite:///{db}")
    assert valid.returncode == 0 and "2 task(s), valid" in valid.stdout
    assert not db.exists()


def test_plan_exit_codes_and_json_then_apply_is_idempotent(
    database_url: str, tmp_path: Path
) -> None:
    tasks = write(tmp_path / "tasks.toml", TWO)
    planned = cronwell("plan", str(tasks), "--json", db=database_url)
    assert planned.returncode == 10, planned.stderr
    plan = json.loads(planned.stdout)
    assert set(plan) == {"create", "update", "delete", "unchanged"}
    assert [entry["id"] for entry in plan["create"]] == ["report", "beat"]
    report = plan["create"][0]
    assert report["source"] == "tasks.toml" and report["definition"]["cron"] == "0 8 * * 1-5"
    # the next three fire times, in the task's zone (the default, Europe/Paris)
    assert len(report["next"]) == 3
    assert all(datetime.fromisoformat(t).strftime("%H:%M") == "08:00" for t in report["next"])
    assert stored(database_url) == {}  # a plan writes nothing

    applied = cronwell("apply", str(tasks), db=database_url)
    assert applied.returncode == 0, applied.stderr
    assert "+ report" in applied.stdout and "Applied: 2 to create" in applied.stdout
    assert stored(database_url) == {"report": "tasks.toml", "beat": "tasks.toml"}
    again = cronwell("apply", str(tasks), db=database_url)
    assert again.returncode == 0 and "No changes: 2 task(s) as declared." in again.stdout
    clean = cronwell("plan", str(tasks), db=database_url)
    assert clean.returncode == 0 and "= 2 unchanged" in clean.stdout

    tasks.write_text(TWO.replace("0 8 * * 1-5", "30 9 * * 1-5").replace("10m", "15m"))
    drift = cronwell("plan", str(tasks), "--json", db=database_url)
    assert drift.returncode == 10
    update = {entry["id"]: entry for entry in json.loads(drift.stdout)["update"]}
    old, new = update["report"]["changes"]["schedule"]
    assert (old["cron"], new["cron"]) == ("0 8 * * 1-5", "30 9 * * 1-5")
    assert len(update["report"]["next"]) == 3
    assert update["beat"]["changes"]["schedule"][1]["seconds"] == 900.0
    text = cronwell("plan", str(tasks), db=database_url)
    assert text.returncode == 10
    assert "~ report" in text.stdout and "→" in text.stdout
    assert '"0 8 * * 1-5"' in text.stdout and '"30 9 * * 1-5"' in text.stdout


def test_a_bad_entry_stores_nothing_and_duplicate_ids_name_both_lines(
    database_url: str, tmp_path: Path
) -> None:
    tasks = write(
        tmp_path / "tasks.toml",
        TWO
        + """
    [[tasks]]
    id = "broken"
    cron = "0 25 * * *"
    action = { kind = "shell", command = "true" }
    """,
    )
    for command in (["apply", str(tasks)], ["tasks", "add", "--file", str(tasks)]):
        result = cronwell(*command, db=database_url)
        assert result.returncode == 2, result.stderr
        assert f"{tasks}:14: task broken: Invalid hour field '25'" in result.stderr
        assert stored(database_url) == {}  # not even the two good tasks before it
    duplicated = write(tmp_path / "dup.toml", TWO + TWO.replace("beat", "other"))
    result = cronwell("tasks", "add", "--file", str(duplicated), db=database_url)
    assert result.returncode == 2
    both = f"{duplicated}:13: task report: duplicate id 'report': also defined at {duplicated}:1."
    assert both in result.stderr
    assert stored(database_url) == {}


def test_prune_deletes_only_tasks_of_the_same_source(database_url: str, tmp_path: Path) -> None:
    cw = Cronwell(database_url, "UTC")
    try:
        cw.add_task("from-app", schedule="0 1 * * *", shell="true")
        cw.service.save(
            {
                "id": "from-api",
                "schedule": {"kind": "cron", "cron": "0 2 * * *"},
                "action": {"kind": "shell", "command": "true"},
            },
            source="api",
        )
        maintenance = maintenance_task(cw.settings, "UTC")
        assert maintenance is not None
        cw.service.save(maintenance, source=SYSTEM_SOURCE)
    finally:
        cw.close()
    added = cronwell(
        "tasks", "add", "from-cli", "--cron", "0 3 * * *", "--shell", "true", db=database_url
    )
    assert added.returncode == 0, added.stderr
    team_a = write(tmp_path / "a.toml", TWO)
    team_b = write(
        tmp_path / "b.yaml",
        "tasks:\n  - {id: b1, every: 1h, action: {kind: shell, command: 'true'}}\n",
    )
    assert cronwell("apply", str(team_a), str(team_b), db=database_url).returncode == 0
    before = stored(database_url)
    assert before == {
        "b1": "b.yaml",
        "beat": "a.toml",
        "cronwell-maintenance": SYSTEM_SOURCE,
        "from-api": "api",
        "from-app": "app",
        "from-cli": "cli",
        "report": "a.toml",
    }
    team_a.write_text("tasks = []\n")  # team A's file now declares nothing
    plan = cronwell("plan", str(team_a), "--prune", "--json", db=database_url)
    assert plan.returncode == 10
    assert sorted(d["id"] for d in json.loads(plan.stdout)["delete"]) == ["beat", "report"]
    without_prune = cronwell("apply", str(team_a), db=database_url)
    assert "No changes" in without_prune.stdout and stored(database_url) == before
    pruned = cronwell("apply", str(team_a), "--prune", "--yes", db=database_url)
    assert pruned.returncode == 0, pruned.stderr
    assert "- beat  (source a.toml)" in pruned.stdout
    after = {k: v for k, v in before.items() if v != "a.toml"}
    assert stored(database_url) == after
    # a prune of an empty document under --source api: the API's tasks, and only those
    assert (
        cronwell(
            "apply", str(team_a), "--prune", "--yes", "--source", "api", db=database_url
        ).returncode
        == 0
    )
    assert stored(database_url) == {k: v for k, v in after.items() if v != "api"}
    refused = cronwell("apply", str(team_a), "--prune", "--source", SYSTEM_SOURCE, db=database_url)
    assert refused.returncode == 2 and "cronwell's own" in refused.stderr
    assert "cronwell-maintenance" in stored(database_url)


def test_an_update_keeps_history_failure_state_and_for_descriptions_the_catchup_anchor(
    database_url: str, tmp_path: Path
) -> None:
    tasks = write(tmp_path / "tasks.toml", TWO)
    assert cronwell("apply", str(tasks), db=database_url).returncode == 0
    store = Store(database_url)
    try:
        when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        store.insert_runs(
            [
                NewRun(
                    task_id="report", scheduled_for=when, status=RunStatus.FAILED, finished_at=when
                )
            ]
        )
        store.record_occurrence_result("report", failed=True)
        first = store.get_task("report")
        tasks.write_text(TWO.replace("The morning report.", "The [bold]report[/bold]."))
        result = cronwell("apply", str(tasks), db=database_url)
        assert result.returncode == 0, result.stderr
        assert "description: " in result.stdout and "[bold]report[/bold]" in result.stdout
        described = store.get_task("report")
        assert described.description == "The [bold]report[/bold]."
        assert described.version == first.version + 1
        assert described.updated_at == first.updated_at  # the catch-up anchor stays
        assert described.consecutive_failures == 1
        tasks.write_text(TWO.replace("0 8 * * 1-5", "0 9 * * 1-5"))
        assert cronwell("apply", str(tasks), db=database_url).returncode == 0
        moved = store.get_task("report")
        assert moved.updated_at is not None and first.updated_at is not None
        assert moved.updated_at > first.updated_at  # a new schedule starts afresh
        assert moved.consecutive_failures == 1
        assert [r.scheduled_for for r in store.list_runs(task_id="report")] == [when]
    finally:
        store.close()


EVERYTHING = """
    [[tasks]]
    id = "cron-python"
    name = "Cron, Python"
    description = "Every kind of policy."
    cron = "0 8 * * 1-5"
    timezone = "Europe/Paris"
    tags = ["b", "a"]
    start_date = "2026-01-01T00:00:00+00:00"
    end_date = "2099-01-01T00:00:00+00:00"
    jitter = 2
    max_instances = 3
    misfire_grace = "5m"
    timeout = "10m"
    retries = 2
    retry_delay = "30s"
    retry_max_delay = "1h"
    retry_jitter = 0.5
    retry_on = ["OSError"]
    overlap = "replace"
    catchup = "all"
    catchup_window = "2h"
    max_consecutive_failures = 4
    long_running = "20m"
    long_running_factor = 3
    alerts = ["dev", { to = "json://127.0.0.1:9/x", events = ["succeeded", "failed"] }]
    deliver = ["dev", { to = "file:///srv/summaries/", format = "json" }]

    [tasks.action]
    kind = "python"
    func = "os.path:join"
    args = ["a", 1]
    kwargs = { b = [1.5, true] }
    isolation = "process"

    [[tasks]]
    id = "interval-shell"
    every = "90s"
    action = { kind = "shell", command = ["echo", "hi"], cwd = "/tmp", env = { A = "1" } }
    enabled = false

    [[tasks]]
    id = "once-past"
    at = "2020-05-01T10:00:00+02:00"
    action = { kind = "shell", command = "echo once" }

    [[tasks]]
    id = "once-future"
    at = "2099-05-01T10:00:00+02:00"

    [tasks.action]
    kind = "http"
    url = "https://user:pw@example.com/hook?token=abc"
    method = "POST"
    headers = { Authorization = "Bearer s3cret", X-Plain = "v" }
    json = { a = 1 }
    expect_status = [200, 204]
    timeout = 5

    [[tasks]]
    id = "daily"
    daily = "17:00"
    action = { kind = "shell", command = "true" }

    [[tasks]]
    id = "weekly"
    weekly = "mon,fri@17:30"
    action = { kind = "shell", command = "true" }

    [[tasks]]
    id = "monthly"
    monthly = "last@23:00"
    action = { kind = "shell", command = "true" }
"""


@pytest.mark.parametrize("spelling", ["toml", "yaml", "json"])
def test_export_round_trip_is_byte_identical(
    database_url: str, tmp_path: Path, spelling: str
) -> None:
    source = write(tmp_path / "everything.toml", EVERYTHING)
    assert cronwell("apply", str(source), db=database_url).returncode == 0
    exported = tmp_path / f"backup.{spelling}"
    first = cronwell("export", "-o", str(exported), db=database_url)
    assert first.returncode == 0, first.stderr
    assert exported.stat().st_mode & 0o777 == 0o600  # secrets are in it
    assert "Bearer s3cret" in exported.read_text()
    empty = f"sqlite:///{tmp_path / 'restored.db'}"
    restored = cronwell("apply", str(exported), "--prune", "--yes", db=empty)
    assert restored.returncode == 0, restored.stderr
    second = cronwell("export", "--format", spelling, db=empty)
    assert second.returncode == 0 and second.stdout == exported.read_text()
    # and back: the restored database's export changes nothing in the first one
    back = cronwell(
        "plan",
        "--format",
        spelling,
        "-",
        "--source",
        "everything.toml",
        db=database_url,
        stdin=second.stdout,
    )
    assert back.returncode == 0, back.stdout + back.stderr
    listed = {t["id"]: t for t in json.loads(cronwell("tasks", "list", "--json", db=empty).stdout)}
    assert listed["once-past"]["next_run"] is None  # a one-off that has fired stays done
    assert listed["interval-shell"]["enabled"] is False
    jsonschema_rs.Draft202012Validator(json.loads(schema_text())).validate(
        json.loads(cronwell("export", "--format", "json", db=empty).stdout)
    )


def test_a_backup_with_a_past_one_off_imports(database_url: str, tmp_path: Path) -> None:
    backup = write(
        tmp_path / "backup.json",
        """
        {"tasks": [
          {"id": "done", "at": "2021-01-01T00:00:00+00:00",
           "action": {"kind": "shell", "command": "true"}},
          {"id": "later", "every": "1h", "action": {"kind": "shell", "command": "true"}}
        ]}
        """,
    )
    for command in (["import", str(backup)], ["tasks", "add", "--file", str(backup), "--replace"]):
        result = cronwell(*command, db=database_url)
        assert result.returncode == 0, result.stderr
        assert set(stored(database_url)) == {"done", "later"}


def test_tasks_list_json_loads_back_unchanged(database_url: str, tmp_path: Path) -> None:
    tasks = write(tmp_path / "tasks.toml", TWO)
    assert cronwell("apply", str(tasks), db=database_url).returncode == 0
    listed = cronwell("tasks", "list", "--json", db=database_url)
    entries = json.loads(listed.stdout)
    report = next(e for e in entries if e["id"] == "report")
    assert report["description"] == "The morning report."  # not the schedule's words
    assert report["schedule_description"] == "At 08:00 on Monday through Friday"
    dumped = tmp_path / "listed.json"
    dumped.write_text(listed.stdout)
    again = cronwell("apply", str(dumped), "--source", "tasks.toml", db=database_url)
    assert again.returncode == 0, again.stderr
    assert "No changes: 2 task(s) as declared." in again.stdout


def test_schema_is_published_and_the_docs_copy_does_not_drift() -> None:
    printed = cronwell("schema")
    assert printed.returncode == 0
    assert printed.stdout == (ROOT / "docs" / "reference" / "tasks.schema.json").read_text()
    validator = jsonschema_rs.Draft202012Validator(json.loads(printed.stdout))
    import tomllib

    example = tomllib.loads((ROOT / "examples" / "tasks.toml").read_text())
    validator.validate(example)
    example["tasks"][0]["retires"] = 2
    assert not validator.is_valid(example)
