"""The core install and the extras: the embedded library schedules and runs tasks on SQLite
without any extra's packages, and each part that needs an extra says which one, in one
sentence, where it is first used.

Each check runs in a child process whose imports of the extras' packages fail as if they
were not installed (a finder at the front of ``sys.meta_path``), so nothing the parent
imported can hide a dependency.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# every package an extra installs (and the packages they bring that cronwell imports)
_EXTRAS_PACKAGES = (
    "fastapi",
    "fastapi_offline",
    "starlette",
    "uvicorn",
    "jinja2",
    "prometheus_client",
    "psycopg",
    "psycopg_binary",
    "psycopg_c",
    "apprise",
)

_BLOCK = textwrap.dedent(f"""
    import importlib.abc
    import sys

    BLOCKED = {set(_EXTRAS_PACKAGES)!r}
    tried = set()

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in BLOCKED:
                tried.add(top)
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
""")


def _child(body: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    code = _BLOCK + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "CRONWELL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env},
    )


def _refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The one line the child printed after ``refused:``."""
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("refused: ")]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0].removeprefix("refused: ")


def test_the_embedded_library_fires_a_task_on_sqlite_without_any_extra(tmp_path: Path) -> None:
    done = _child(
        """
        import threading
        from cronwell import Cronwell, every

        cw = Cronwell("sqlite:///x.db")
        finished = []
        ran = threading.Event()

        def on_run(run):
            finished.append(run)
            ran.set()

        cw.on_run(on_run)
        cw.add_task("hello", schedule=every(seconds=1), shell="echo hello from a fire")
        cw.start()
        assert ran.wait(60), "no run recorded"
        cw.close()
        run = finished[0]
        print("run:", run.task_id, run.status.value)
        stored = Cronwell("sqlite:///x.db").runs("hello")
        print("stored:", len(stored) >= 1, "hello from a fire" in (stored[-1].output or ""))
        print("tried:", sorted(tried))
        print("loaded:", sorted(m for m in BLOCKED if m in sys.modules))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "run: hello succeeded" in done.stdout
    assert "stored: True True" in done.stdout
    assert "loaded: []" in done.stdout


def test_the_cli_works_without_any_extra(tmp_path: Path) -> None:
    done = _child(
        """
        from cronwell.cli.main import main

        sys.argv = ["cronwell", "next", "0 8 * * 1-5", "--tz", "Europe/Paris", "-n", "2"]
        try:
            main()
        except SystemExit as exc:
            print("exit:", exc.code)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "08:00" in done.stdout
    assert "exit: 1" not in done.stdout and "exit: 2" not in done.stdout


def test_a_postgresql_url_without_psycopg_names_the_postgres_extra(tmp_path: Path) -> None:
    done = _child(
        """
        from cronwell import Cronwell
        from cronwell.errors import MissingExtraError

        try:
            Cronwell("postgresql://postgres@127.0.0.1:5432/test").list_tasks()
        except MissingExtraError as exc:
            print("refused:", exc)
        """,
        tmp_path,
    )
    assert _refusal(done) == (
        "psycopg is not installed; a PostgreSQL database needs it: pip install 'cronwell[postgres]'"
    )


def test_serve_without_the_server_extra_names_it(tmp_path: Path) -> None:
    done = _child(
        """
        from cronwell.cli.main import main

        sys.argv = ["cronwell", "serve", "--port", "0"]
        try:
            main()
        except SystemExit as exc:
            print("exit:", exc.code)
        """,
        tmp_path,
    )
    assert "exit: 0" not in done.stdout and "exit: None" not in done.stdout, done.stdout
    assert "pip install 'cronwell[server]'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        pytest.param("from cronwell.contrib.fastapi import cronwell_app", "server", id="fastapi"),
        pytest.param(
            "Cronwell('sqlite:///x.db').metrics.exposition()", "server", id="prometheus-metrics"
        ),
        pytest.param(
            "Cronwell(settings=load_settings(channels={'ops': 'json://127.0.0.1:9/hook'}))",
            "alerts",
            id="alert-channels",
        ),
        pytest.param(
            "from cronwell.notify.message import TemplateSet; TemplateSet.default()",
            "alerts",
            id="alert-templates",
        ),
    ],
)
def test_each_part_names_the_extra_it_needs(body: str, extra: str, tmp_path: Path) -> None:
    done = _child(
        f"""
        from cronwell import Cronwell
        from cronwell.errors import MissingExtraError
        from cronwell.settings import load_settings

        try:
            {body}
        except MissingExtraError as exc:
            print("refused:", exc)
        """,
        tmp_path,
    )
    sentence = _refusal(done)
    assert sentence.endswith(f"needs it: pip install 'cronwell[{extra}]'")
    assert ". " not in sentence  # one sentence
