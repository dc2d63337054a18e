"""A function of a script run as ``python app.py`` is stored as ``__main__:func``, which no
other process can import: cronwell warns once per task when it is declared. Run as a
module (``python -m package.module``), the function is stored under that module's name and
``cronwell tasks run`` in another process runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

APP = textwrap.dedent(
    """
    import json
    import logging

    from cronwell import Cronwell


    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.records = []

        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "action", None) == "main_module_function":
                self.records.append({"task_id": record.task_id, "function": record.function})


    keep = Keep()
    logging.getLogger("cronwell").addHandler(keep)
    cw = Cronwell(timezone="UTC")  # CRONWELL_DATABASE_URL


    @cw.task(cron="0 8 * * *", id="job")
    def job() -> str:
        return "ran"


    cw.add_job(job, "cron", hour=9, id="job2")

    if __name__ == "__main__":
        cw.add_task("job", schedule="0 8 * * *", func=job)  # declared again: no second warning
        print(json.dumps({"warnings": keep.records, "func": cw.get_task("job").action.func}))
        cw.close()
    """
)


def _python(args: list[str], cwd: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "CRONWELL_DATABASE_URL": database_url}
    env.pop("CRONWELL_TIMEZONE", None)
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def _tasks_run(database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _python(["-m", "cronwell", "tasks", "run", "job", "--json"], cwd, database_url)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(APP)
    return tmp_path


def test_a_script_function_is_stored_as_main_and_warned_once_per_task(
    database_url: str, app_dir: Path
) -> None:
    result = _python(["myapp/app.py"], app_dir, database_url)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["func"] == "__main__:job"
    assert out["warnings"] == [
        {"task_id": "job", "function": "__main__:job"},
        {"task_id": "job2", "function": "__main__:job"},
    ]
    # what the warning says: another process cannot import it
    other = _tasks_run(database_url, app_dir)
    assert other.returncode != 0
    assert "__main__" in other.stdout + other.stderr


def test_run_as_a_module_the_function_travels(database_url: str, app_dir: Path) -> None:
    result = _python(["-m", "myapp.app"], app_dir, database_url)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == {"warnings": [], "func": "myapp.app:job"}
    other = _tasks_run(database_url, app_dir)
    assert other.returncode == 0, other.stdout + other.stderr
    run = json.loads(other.stdout)
    assert run["status"] == "succeeded"
    assert run["return_value"] == "'ran'"


def test_a_task_stored_as_main_is_renamed_when_run_as_a_module(
    database_url: str, app_dir: Path
) -> None:
    """Before, ``python -m myapp.app`` stored ``__main__:job`` too; declaring the task
    again under its module's name replaces it instead of raising TaskExistsError."""
    assert _python(["myapp/app.py"], app_dir, database_url).returncode == 0
    result = _python(["-m", "myapp.app"], app_dir, database_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["func"] == "myapp.app:job"
