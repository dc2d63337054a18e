"""Shell completion as a shell asks for it: the real CLI in a child process with Click's
completion variables. It offers the fixed choices and the stored task ids, and it stays
light: FastAPI, uvicorn, httpx and SQLAlchemy are not even imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cronwell import Cronwell, every

_CHILD = """
import json, sys
sys.argv = ["cronwell"]
from cronwell.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = ("fastapi", "uvicorn", "httpx", "sqlalchemy", "cronwell.runtime")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def complete(
    line: str, db: str | None = None, cwd: Path | None = None
) -> tuple[list[str], list[str]]:
    """The completions bash gets for ``line`` (the last word is being typed), and the heavy
    modules the completing process had loaded."""
    words = line.split(" ")
    env = {
        **os.environ,
        "_CRONWELL_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1),
    }
    env.pop("CRONWELL_DATABASE_URL", None)
    if db is not None:
        env["CRONWELL_DATABASE_URL"] = db
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout.split(), json.loads(lines[-1])


@pytest.fixture
def stored(database_url: str) -> str:
    cw = Cronwell(database_url, "UTC")
    try:
        for task_id in ("alpha", "alps", "beta"):
            cw.add_task(task_id, schedule=every(hours=1), shell="true")
    finally:
        cw.close()
    return database_url


def test_task_ids_complete_from_the_database(stored: str) -> None:
    assert complete("cronwell tasks show al", stored) == (["alpha", "alps"], [])
    ids, heavy = complete("cronwell tasks pause ", stored)
    assert {"alpha", "alps", "beta"} <= set(ids)
    assert heavy == []
    assert complete("cronwell runs list --task b", stored) == (["beta"], [])
    assert complete("cronwell alerts list --task alph", stored) == (["alpha"], [])
    # --database-url on the command line is the database to read
    assert complete(f"cronwell -d {stored} tasks run be") == (["beta"], [])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("cronwell runs list --status f", ["failed"]),
        ("cronwell runs list --status timed", ["timed_out"]),
        ("cronwell tasks list --state ", ["enabled", "paused"]),
        ("cronwell tasks add x --overlap ", ["allow", "skip", "queue_one", "replace"]),
        ("cronwell tasks add x --catchup ", ["none", "latest", "all"]),
        ("cronwell serve --log-level w", ["WARNING"]),
    ],
)
def test_fixed_choices_complete(line: str, expected: list[str], tmp_path: Path) -> None:
    assert complete(line, cwd=tmp_path) == (expected, [])


def test_completion_without_a_database_offers_nothing_and_creates_nothing(
    tmp_path: Path,
) -> None:
    assert complete("cronwell tasks show ", cwd=tmp_path) == ([], [])  # ./cronwell.db
    missing = tmp_path / "typo.db"
    assert complete("cronwell tasks show ", f"sqlite:///{missing}", cwd=tmp_path) == ([], [])
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    assert complete("cronwell tasks show ", unreachable, cwd=tmp_path) == ([], [])
    assert list(tmp_path.iterdir()) == []


def test_help_lists_the_choices() -> None:
    def help_of(*args: str) -> str:
        env = {**os.environ, "COLUMNS": "200"}
        result = subprocess.run(
            [sys.executable, "-m", "cronwell", *args, "--help"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert all(s in help_of("runs", "list") for s in ("succeeded", "timed_out", "abandoned"))
    assert "enabled|paused" in help_of("tasks", "list")
    added = help_of("tasks", "add")
    assert "allow|skip|queue_one|replace" in added and "none|latest|all" in added
