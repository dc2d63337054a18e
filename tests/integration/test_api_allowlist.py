"""What the API may make the service run (defect 1 of issue 18): Python functions are an
allow-list (registered ones and CRONWELL_API_FUNCTIONS), refused ones are never imported,
and a task stored by the library with another function still runs on schedule but not on
the API's request."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cronwell import Cronwell
from cronwell.api import create_app
from cronwell.errors import ConfigError
from cronwell.service.allowlist import function_matches
from cronwell.settings import load_settings

HOURLY = {"kind": "cron", "cron": "0 * * * *"}


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A module that writes a file when it is imported: its name, and that file."""
    name = f"cw_probe_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"import os\nfrom pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "def job():\n    return 'ran'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name, marker


@pytest.fixture
def make_client(database_url: str) -> Iterator[Callable[..., tuple[Cronwell, TestClient]]]:
    made: list[tuple[Cronwell, TestClient]] = []

    def make(**settings: Any) -> tuple[Cronwell, TestClient]:
        cw = Cronwell(
            settings=load_settings(
                database_url=database_url, timezone="UTC", instance_id="allow-a", **settings
            )
        )
        client = TestClient(create_app(cw))
        made.append((cw, client))
        return cw, client

    yield make
    for cw, client in made:
        client.close()
        cw.close()


def nightly_job() -> str:
    return "ok"


def python_task(task_id: str, func: str, **action: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "schedule": HOURLY,
        "action": {"kind": "python", "func": func, **action},
    }


@pytest.mark.parametrize(
    ("func", "args"),
    [
        ("os:system", ["id > pwned.txt"]),
        ("subprocess:check_call", [["id"]]),
        ("builtins:exec", ["import os"]),
    ],
)
def test_dangerous_functions_are_refused_by_default(
    make_client: Callable[..., tuple[Cronwell, TestClient]], func: str, args: list[Any]
) -> None:
    cw, client = make_client()
    refused = client.post("/api/v1/tasks", json=python_task("pwn", func, args=args))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["type"] == "ForbiddenError"
    assert "CRONWELL_API_FUNCTIONS" in error["message"] and func in error["message"]
    assert cw.service.find("pwn") is None


def test_a_refused_function_is_never_imported(
    make_client: Callable[..., tuple[Cronwell, TestClient]], probe: tuple[str, Path]
) -> None:
    module, marker = probe
    cw, client = make_client()
    refused = client.post("/api/v1/tasks", json=python_task("probe", f"{module}:job"))
    assert refused.status_code == 403
    bulk = client.post(
        "/api/v1/tasks/bulk",
        json=[
            {"id": "fine", "schedule": HOURLY, "action": {"kind": "http", "url": "http://x.io"}},
            python_task("probe", f"{module}:job"),
        ],
    )
    assert bulk.status_code == 403 and cw.service.find("fine") is None
    client.post(
        "/api/v1/tasks",
        json={"id": "probe", "schedule": HOURLY, "action": {"kind": "http", "url": "http://x.io"}},
    )
    update = client.put(
        "/api/v1/tasks/probe", json={**python_task("probe", f"{module}:job"), "version": 1}
    )
    assert update.status_code == 403 and "update" in update.json()["error"]["message"]
    assert cw.service.get("probe").action.kind == "http"
    assert not marker.exists() and module not in sys.modules


def test_the_allow_list_admits_modules_and_references(
    make_client: Callable[..., tuple[Cronwell, TestClient]], probe: tuple[str, Path]
) -> None:
    module, marker = probe
    _cw, client = make_client(api_functions=[module, "os:getcwd"])
    assert client.post("/api/v1/tasks", json=python_task("probe", f"{module}:job")).status_code == (
        201
    )
    assert marker.exists()  # checked importable at creation, as the library does
    assert client.post("/api/v1/tasks", json=python_task("cwd", "os:getcwd")).status_code == 201
    other = client.post("/api/v1/tasks", json=python_task("pid", "os:getpid"))
    assert other.status_code == 403


def test_a_module_entry_does_not_reach_what_the_module_imports(
    make_client: Callable[..., tuple[Cronwell, TestClient]], probe: tuple[str, Path]
) -> None:
    module, _ = probe
    cw, client = make_client(api_functions=[module])
    for ref in (f"{module}:os.system", f"{module}:__builtins__.exec", f"{module}:job.__globals__"):
        refused = client.post("/api/v1/tasks", json=python_task("reach", ref, args=["id"]))
        assert refused.status_code == 403, (ref, refused.text)
        assert "CRONWELL_API_FUNCTIONS" in refused.json()["error"]["message"]
    assert cw.service.find("reach") is None


def test_registered_functions_are_allowed(
    make_client: Callable[..., tuple[Cronwell, TestClient]],
) -> None:
    cw, client = make_client()
    cw.task(cron="0 3 * * *", id="registered")(nightly_job)
    ref = cw.get_task("registered").action.func  # type: ignore[union-attr]
    again = client.post("/api/v1/tasks", json=python_task("same-function", ref))
    assert again.status_code == 201, again.text
    cw.start()  # declares the built-in maintenance task
    maintenance = client.post("/api/v1/tasks/cronwell-maintenance/run")
    assert maintenance.status_code == 202  # the built-in task's function is registered


def test_the_api_does_not_run_what_it_could_not_create(
    make_client: Callable[..., tuple[Cronwell, TestClient]],
) -> None:
    cw, client = make_client()
    # the library is the machine owner's: it stores what it likes, and it runs on schedule
    cw.add_task("owner-python", schedule="0 * * * *", func="os:getcwd")
    cw.add_task("owner-shell", schedule="0 * * * *", shell="true")
    python = client.post("/api/v1/tasks/owner-python/run")
    assert python.status_code == 403 and "CRONWELL_API_FUNCTIONS" in python.text
    shell = client.post("/api/v1/tasks/owner-shell/run")
    assert shell.status_code == 403 and "CRONWELL_ALLOW_SHELL" in shell.text
    assert cw.service.list_runs() == []
    _, allowed = make_client(api_functions=["os:getcwd"], allow_shell=True)
    assert allowed.post("/api/v1/tasks/owner-python/run").status_code == 202
    assert allowed.post("/api/v1/tasks/owner-shell/run").status_code == 202


def test_the_setting_reads_commas_or_json_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRONWELL_API_FUNCTIONS", "myapp.jobs, reports. pkg.mod:func")
    assert load_settings().api_functions == ["myapp.jobs", "reports.", "pkg.mod:func"]
    monkeypatch.setenv("CRONWELL_API_FUNCTIONS", '["myapp.", "pkg.mod:func"]')
    assert load_settings().api_functions == ["myapp.", "pkg.mod:func"]
    monkeypatch.setenv("CRONWELL_API_FUNCTIONS", "my-app")
    with pytest.raises(ConfigError, match="CRONWELL_API_FUNCTIONS"):
        load_settings()
    monkeypatch.delenv("CRONWELL_API_FUNCTIONS")
    assert load_settings().api_functions == []


@pytest.mark.parametrize(
    ("ref", "pattern", "expected"),
    [
        ("myapp.jobs:nightly", "myapp.jobs", True),
        ("myapp.jobs.sub:f", "myapp.jobs", True),
        ("myapp.jobsx:f", "myapp.jobs", False),
        ("myapp:f", "myapp.", False),
        ("myapp.jobs:f", "myapp.", True),
        ("pkg.mod:func", "pkg.mod:func", True),
        ("pkg.mod:func2", "pkg.mod:func", False),
        ("os:system", "os:getcwd", False),
    ],
)
def test_patterns(ref: str, pattern: str, expected: bool) -> None:
    assert function_matches(ref, pattern) is expected
