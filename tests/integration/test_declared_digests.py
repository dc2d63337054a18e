"""Declared digests (issue 19, a re-apply well under the first apply): a task stored by an
apply keeps the digest of its entry and definition, and the next plan skips it when the
entry gives the same digest again. On real SQLite and PostgreSQL: every difference a
full comparison finds is still found, and the plan reads in full exactly the tasks whose
digest does not hold."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

import cronwell.domain.declared as declared_module
from cronwell import Cronwell
from cronwell.service.declared import DocumentError, Plan, load_documents


@pytest.fixture
def opened() -> Iterator[Callable[..., Cronwell]]:
    made: list[Cronwell] = []

    def make(url: str, zone: str = "UTC") -> Cronwell:
        app = Cronwell(url, zone, instance_id=f"digests-{uuid.uuid4().hex[:6]}")
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def fleet(n: int, *, changed: Collection[int] = ()) -> list[dict[str, Any]]:
    """``n`` cron tasks; those of the indexes ``changed`` a minute later."""
    return [
        {
            "id": f"t{index:03d}",
            "cron": f"{(index + (index in changed)) % 60} * * * *",
            "action": {"kind": "shell", "command": "true"},
            "timezone": "UTC",
            "tags": ["fleet"],
        }
        for index in range(n)
    ]


def write(path: Path, tasks: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"tasks": tasks}, indent=2))
    return path


class Reads:
    """Records the ids a plan reads in full (``Store.find_tasks``)."""

    def __init__(self, app: Cronwell, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ids: list[str] = []
        find = app.store.find_tasks

        def recording(ids: Any, sources: Any = ()) -> Any:
            self.ids += list(ids)
            return find(ids, sources)

        monkeypatch.setattr(app.store, "find_tasks", recording)

    def take(self) -> set[str]:
        taken, self.ids = set(self.ids), []
        return taken


def apply(app: Cronwell, path: Path, **options: Any) -> Plan:
    return app.service.apply(load_documents([path]), **{"prune": True, **options})


def plan(app: Cronwell, path: Path, **options: Any) -> Plan:
    return app.service.plan(load_documents([path]), **{"prune": True, **options})


def digests(app: Cronwell) -> dict[str, str | None]:
    found = app.store.find_declared([t.id for t in app.list_tasks()])
    return {row.id: row.declared for row in found}


def test_a_reapply_reads_in_full_only_the_changed_tasks(
    database_url: str,
    opened: Callable[..., Cronwell],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = opened(database_url)
    reads = Reads(app, monkeypatch)
    document = write(tmp_path / "fleet.json", fleet(30))
    assert len(apply(app, document).create) == 30
    assert reads.take() == set()
    stored = digests(app)
    assert all(stored[f"t{i:03d}"] for i in range(30))  # the maintenance task has none

    again = apply(app, document)
    assert (again.has_changes, again.unchanged, again.declared) == (False, 30, {})
    assert reads.take() == set()

    write(document, fleet(30, changed={3, 17}))
    changed = apply(app, document)
    assert sorted(c.id for c in changed.update) == ["t003", "t017"]
    assert [set(c.changes) for c in changed.update] == [{"schedule"}, {"schedule"}]
    assert changed.unchanged == 28
    assert reads.take() == {"t003", "t017"}
    assert digests(app)["t003"] not in (None, stored["t003"])  # recorded with the new one
    assert apply(app, document).has_changes is False
    assert reads.take() == set()


def test_changes_made_through_other_doors_are_found(
    database_url: str, opened: Callable[..., Cronwell], tmp_path: Path
) -> None:
    """Paused, edited, deleted or taken over since the apply: each task's digest no longer
    holds, and the plan is the one a full comparison makes."""
    app = opened(database_url)
    document = write(tmp_path / "fleet.json", fleet(5))
    apply(app, document)
    app.service.pause("t000")
    edited = app.get_task("t001").model_copy(update={"description": "edited by hand"})
    app.service.save(edited, replace_existing=True)
    app.service.save(
        app.get_task("t002").model_copy(update={"tags": ["other"]}), replace_existing=True
    )
    app.service.delete("t003")

    planned = plan(app, document)
    assert [t.id for t in planned.create] == ["t003"]
    changes = {c.id: c.changes for c in planned.update}
    assert changes == {
        "t001": {"description": ("edited by hand", "")},
        "t002": {"tags": (["other"], ["fleet"])},
    }
    assert planned.unchanged == 2  # t004, and t000: a pause the document does not undo
    apply(app, document)
    assert app.get_task("t000").enabled is False
    assert app.get_task("t001").description == ""
    assert apply(app, document).has_changes is False

    resumed = fleet(5)
    resumed[0]["enabled"] = True
    write(document, resumed)
    assert {c.id: c.changes for c in plan(app, document).update} == {
        "t000": {"enabled": (False, True)}
    }


def test_another_source_or_default_zone_is_a_difference(
    database_url: str, opened: Callable[..., Cronwell], tmp_path: Path
) -> None:
    tasks = fleet(3)
    del tasks[0]["timezone"]  # read in the configured zone
    document = write(tmp_path / "fleet.json", tasks)
    app = opened(database_url)
    apply(app, document)
    assert plan(app, document).has_changes is False

    taken = plan(app, document, source="team-b", scope={"fleet.json"})
    assert {c.id: c.changes for c in taken.update} == {
        f"t{i:03d}": {"source": ("fleet.json", "team-b")} for i in range(3)
    }
    elsewhere = opened(database_url, "Europe/Paris")
    moved = plan(elsewhere, document)
    assert {c.id: c.changes for c in moved.update} == {
        "t000": {"timezone": ("UTC", "Europe/Paris")}
    }


def test_prune_and_duplicates_are_as_before(
    database_url: str, opened: Callable[..., Cronwell], tmp_path: Path
) -> None:
    app = opened(database_url)
    document = write(tmp_path / "fleet.json", fleet(4))
    apply(app, document)
    write(document, fleet(3))
    pruned = plan(app, document)
    assert ([t.id for t in pruned.delete], pruned.unchanged) == (["t003"], 3)
    assert [t.id for t in plan(app, document, prune=False).delete] == []

    twice = fleet(3)
    write(document, [*twice, twice[1]])  # an id declared twice, as stored
    with pytest.raises(DocumentError, match="duplicate id 't001'"):
        plan(app, document)


def test_a_function_that_can_no_longer_be_imported_is_a_problem(
    database_url: str,
    opened: Callable[..., Cronwell],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = f"digest_jobs_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("def job():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = opened(database_url)
    tasks = fleet(2)
    tasks[1]["action"] = {"kind": "python", "func": f"{module}:job"}
    document = write(tmp_path / "fleet.json", tasks)
    apply(app, document)
    assert plan(app, document).has_changes is False

    (tmp_path / f"{module}.py").unlink()
    sys.modules.pop(module, None)
    importlib.invalidate_caches()
    with pytest.raises(DocumentError, match=f"task t001: .*{module}"):
        plan(app, document)


def test_tasks_stored_without_a_digest_get_one_at_the_next_apply(
    database_url: str,
    opened: Callable[..., Cronwell],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tasks made by the API or the CLI, or stored before digests: the first apply that
    declares them as they are compares them in full and records their digests, without
    changing them; an upgrade of cronwell does the same once."""
    app = opened(database_url)
    document = write(tmp_path / "fleet.json", fleet(3))
    app.service.create_many([d.data for d in load_documents([document])], source="fleet.json")
    reads = Reads(app, monkeypatch)
    versions = {t.id: t.version for t in app.list_tasks()}

    first = apply(app, document)
    assert (first.has_changes, first.unchanged, sorted(first.declared)) == (
        False,
        3,
        ["t000", "t001", "t002"],
    )
    assert reads.take() == {"t000", "t001", "t002"}
    assert {t.id: t.version for t in app.list_tasks()} == versions  # not a change
    assert apply(app, document).unchanged == 3
    assert reads.take() == set()

    monkeypatch.setattr(declared_module, "__version__", "999.0")
    declared_module._code.cache_clear()
    try:
        assert apply(app, document).unchanged == 3
        assert reads.take() == {"t000", "t001", "t002"}
        assert apply(app, document).unchanged == 3
        assert reads.take() == set()
    finally:
        declared_module._code.cache_clear()


def test_the_library_syncing_task_objects_records_no_digest(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    """A ``Task`` given to ``cw.sync`` holds models, whose text is not the entry's whole
    truth: it is compared in full every time; dicts get digests as documents do."""
    from cronwell import Task, cron

    app = opened(database_url)
    job = Task(id="modelled", schedule=cron("0 8 * * *"), action={"kind": "shell", "command": "x"})
    app.sync(
        [job, {"id": "plain", "cron": "0 9 * * *", "action": {"kind": "shell", "command": "x"}}]
    )
    assert {k: v is not None for k, v in digests(app).items() if k in ("modelled", "plain")} == {
        "modelled": False,
        "plain": True,
    }
    changed = job.model_copy(update={"description": "now described"})
    assert [c.id for c in app.sync([changed]).update] == ["modelled"]


def test_apply_tells_its_progress_checking_then_storing(
    database_url: str, opened: Callable[..., Cronwell], tmp_path: Path
) -> None:
    app = opened(database_url)
    document = write(tmp_path / "fleet.json", fleet(1200))
    told: list[tuple[str, int, int]] = []
    apply(app, document, progress=lambda *step: told.append(step))
    assert told[0][0] == "checking" and told[-3:] == [
        ("checking", 1200, 1200),
        ("storing", 0, 1200),
        ("storing", 1200, 1200),
    ]
    told.clear()
    apply(app, document, progress=lambda *step: told.append(step))
    assert told[-1] == ("checking", 1200, 1200)  # nothing to store
