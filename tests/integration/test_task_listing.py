"""The store's reads behind the dashboard's tasks page, on both backends: counts by state,
ids by filter in either order, whole or a page at a time, with or without the indexes'
shortcuts (a tag a text match can pre-filter or not, the failing tasks first)."""

from __future__ import annotations

from cronwell import Cronwell


def _fleet(cw: Cronwell) -> None:
    tags = {0: ["ops"], 1: ["ops", "été"], 2: ['a"b'], 3: ["50%_off"], 4: ["opsx"]}
    for index in range(30):
        cw.add_task(
            f"t-{index:02d}",
            schedule="0 3 * * *",
            shell="true",
            name=f"Report {index} for CUSTOMER_{index % 3}",
            tags=tags.get(index % 6, []),
        )
    cw.pause("t-05")
    cw.store.auto_pause("t-07", "3 failures in a row", cw.clock.now())
    for task_id, failures in (("t-20", 1), ("t-09", 3), ("t-11", 1), ("t-03", 2)):
        for _ in range(failures):
            cw.store.record_occurrence_result(task_id, failed=True)


def test_counts_by_state(database_url: str) -> None:
    with Cronwell(database_url, timezone="UTC") as cw:
        _fleet(cw)
        counts = cw.store.task_state_counts()
    total = 31  # and the maintenance task
    assert (counts.total, counts.paused, counts.auto_paused, counts.failing) == (total, 2, 1, 4)
    assert counts.active == total - 2


def test_ids_by_tag_text_and_state(database_url: str) -> None:
    with Cronwell(database_url, timezone="UTC") as cw:
        _fleet(cw)
        ids = cw.store.task_ids
        ops = ["t-00", "t-01", "t-06", "t-07", "t-12", "t-13", "t-18", "t-19", "t-24", "t-25"]
        assert ids(tag="ops") == ops  # not "opsx"
        assert ids(tag="été") == ["t-01", "t-07", "t-13", "t-19", "t-25"]
        assert ids(tag='a"b') == ["t-02", "t-08", "t-14", "t-20", "t-26"]
        assert ids(tag="50%_off") == ["t-03", "t-09", "t-15", "t-21", "t-27"]
        assert ids(tag="50%") == [] and ids(tag="_") == []
        assert ids(text="customer_1") == [f"t-{i:02d}" for i in range(1, 30, 3)]
        assert ids(text="r_1") == ids(text="R_1")  # any case; "_" is a character, not a wildcard
        assert ids(text="customer%") == []
        assert ids(state="failing") == ["t-03", "t-09", "t-11", "t-20"]
        assert ids(state="auto_paused") == ["t-07"]
        assert ids(state="paused", tag="ops") == ["t-07"]
        assert ids(tag="ops", limit=3, offset=2) == ops[2:5]


def test_failing_first_whole_and_by_pages(database_url: str) -> None:
    with Cronwell(database_url, timezone="UTC") as cw:
        _fleet(cw)
        everything = cw.store.task_ids(order="failing")
        streaks = ["t-09", "t-03", "t-11", "t-20"]  # longest first, then by id
        others = sorted({f"t-{i:02d}" for i in range(30)} - set(streaks) | {"cronwell-maintenance"})
        assert everything == streaks + others
        for offset, limit in ((0, 3), (0, 4), (2, 5), (4, 5), (27, 10)):
            page = cw.store.task_ids(order="failing", limit=limit, offset=offset)
            assert page == everything[offset : offset + limit], (offset, limit)
        assert cw.store.task_ids(order="failing", tag="ops", limit=2) == ["t-00", "t-01"]
        assert cw.store.task_ids(order="failing", text="customer_0", limit=2) == ["t-09", "t-03"]
