"""What an embedded Cronwell loads: Alembic, httpx, Apprise and Jinja only when a
database needs migrating, an HTTP action runs or an alert is rendered. Each would add
thousands of objects that every full garbage collection walks again, for nothing, in a
process that schedules Python functions on a current database. In a child process: this
one has long imported them all."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from cronwell.store import Store
from cronwell.store.database import MIGRATIONS_DIR
from cronwell.store.migrations import HEAD

LAZY = ("alembic", "httpx", "apprise", "jinja2", "prometheus_client", "fastapi", "uvicorn")

CHILD = textwrap.dedent("""
    import json, sys
    from cronwell import Cronwell, PythonAction, Task, every

    cw = Cronwell(sys.argv[1], timezone="UTC")
    cw.add_task(Task(id="cwd", schedule=every(hours=1), action=PythonAction(func="os:getcwd")))
    cw.start()
    run = cw.run_now("cwd")
    cw.close()
    lazy = json.loads(sys.argv[2])
    print(json.dumps([run.status.value, [name for name in lazy if name in sys.modules]]))
""")


def test_the_head_revision_is_alembics_own() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


@pytest.mark.parametrize("migrated", [True, False], ids=["current", "new"])
def test_an_embedded_scheduler_loads_only_what_it_uses(database_url: str, migrated: bool) -> None:
    if migrated:
        store = Store(database_url)
        store.upgrade()
        store.close()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, database_url, json.dumps(LAZY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    status, loaded = json.loads(done.stdout.splitlines()[-1])
    assert status == "succeeded"
    # a new database is migrated with Alembic; a current one needs none of them
    assert loaded == ([] if migrated else ["alembic"])
