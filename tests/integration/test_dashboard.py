"""The dashboard's pages and actions over a real store (SQLite and PostgreSQL), through the
ASGI app: what each page shows, the orders and filters of the tasks page, the actions
with their CSRF tokens, read-only mode, the sign-in with a token, escaping and the
security headers. The browser scenarios are in tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.support.waiting import wait_until

from cronwell import Cronwell, every
from cronwell.api import create_app
from cronwell.clock import FrozenClock
from cronwell.domain.run import RunStatus
from cronwell.settings import Settings
from cronwell.store import NewRun

XSS = "<script>alert('x')</script>\" onmouseover=\"alert(1)"


def make(database_url: str, clock: FrozenClock | None = None, **settings: object) -> Cronwell:
    return Cronwell(
        clock=clock,
        settings=Settings(
            database_url=database_url,
            timezone="UTC",
            poll_interval=0.05,
            instance_id="dash-a",
            maintenance_cron="",
            **settings,  # type: ignore[arg-type]
        ),
    )


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = make(database_url)
    yield instance
    instance.close()


@pytest.fixture
def client(cw: Cronwell) -> Iterator[TestClient]:
    with TestClient(create_app(cw)) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" (?:value|content)="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def fail(text: str) -> None:
    raise RuntimeError(text)


def test_pages_show_failures_and_escape_user_text(cw: Cronwell, client: TestClient) -> None:
    cw.add_task(
        "xss-task",
        schedule="*/5 * * * *",
        func=fail,
        args=[XSS],
        description=XSS,
        name=XSS,
        tags=["web"],
    )
    failed = cw.run_now("xss-task")
    assert failed.status.value == "failed"
    pages = {
        "/": client.get("/"),
        "/tasks": client.get("/tasks"),
        "/tasks/xss-task": client.get("/tasks/xss-task"),
        f"/runs/{failed.id}": client.get(f"/runs/{failed.id}"),
        "/runs": client.get("/runs"),
    }
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
        assert 'onmouseover="alert' not in page.text, path
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
    run_page = pages[f"/runs/{failed.id}"].text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34; onmouseover=" in run_page
    assert 'id="traceback-text"' in run_page and "RuntimeError" in run_page
    overview = pages["/"].text
    assert f'href="/runs/{failed.id}"' in overview  # failures of the last 24 h
    assert 'href="/tasks/xss-task"' in overview
    assert "&lt;script&gt;" in pages["/tasks/xss-task"].text


def test_actions_need_the_csrf_token_and_change_the_task(cw: Cronwell, client: TestClient) -> None:
    cw.add_task("job", schedule=every(hours=1), func=lambda: print("ran from the dashboard"))
    page = client.get("/tasks/job")
    token = csrf_of(page.text)
    refused = client.post("/tasks/job/pause", data={}, follow_redirects=False)
    assert refused.status_code == 403 and cw.get_task("job").enabled
    forged = client.post("/tasks/job/pause", data={"csrf": "x" + token}, follow_redirects=False)
    assert forged.status_code == 403 and cw.get_task("job").enabled
    assert client.get("/tasks/job/pause").status_code == 405  # actions are POST only

    paused = client.post("/tasks/job/pause", data={"csrf": token}, follow_redirects=False)
    assert paused.status_code == 303 and paused.headers["location"] == "/tasks/job"
    assert not cw.get_task("job").enabled
    shown = client.get("/tasks/job").text
    assert 'id="task-state">paused<' in shown and 'id="resume"' in shown
    resumed = client.post("/tasks/job/resume", data={"csrf": token}, follow_redirects=False)
    assert resumed.status_code == 303 and cw.get_task("job").enabled

    cw.start()
    fragment = client.post("/tasks/job/run", data={"csrf": token}, headers={"HX-Request": "true"})
    (queued,) = cw.runs("job")
    assert fragment.status_code == 200 and 'id="runs"' in fragment.text
    assert f'href="/runs/{queued.id}"' in fragment.text  # the runs section, new run included
    done = wait_until(
        lambda: (r := cw.service.get_run(queued.id)).status.value == "succeeded" and r,
        what="the run queued from the dashboard",
    )
    assert "ran from the dashboard" in (done.output or "")
    settled = client.get("/tasks/job/runs").text
    assert "every 2s" not in settled and 'data-status="succeeded"' in settled

    wrong = client.post("/tasks/job/delete", data={"csrf": token, "confirm": "jo"})
    assert wrong.status_code == 422 and 'id="confirm-error"' in wrong.text
    assert cw.service.find("job") is not None
    deleted = client.post(
        "/tasks/job/delete", data={"csrf": token, "confirm": "job"}, follow_redirects=False
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/tasks?deleted=job"
    assert cw.service.find("job") is None
    assert client.get("/tasks/job").status_code == 404
    assert client.get(f"/runs/{queued.id}").status_code == 200  # the history stays


def test_timeline_explains_occurrences_missed_while_paused(database_url: str) -> None:
    clock = FrozenClock(datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC))
    cw = make(database_url, clock=clock)
    try:
        cw.add_task("hourly", schedule="0 * * * *", shell="true")
        with TestClient(create_app(cw)) as client:
            token = csrf_of(client.get("/tasks/hourly").text)
            clock.set(datetime(2026, 3, 10, 9, 30, tzinfo=UTC))
            client.post("/tasks/hourly/pause", data={"csrf": token})
            clock.set(datetime(2026, 3, 10, 12, 30, tzinfo=UTC))
            page = client.get("/tasks/hourly?day=2026-03-10").text
            fates = re.findall(r'<li class="fate-(\w+)">', page)
            assert fates == ["not_created"] * 9 + ["no_record"] + ["paused"] * 14
            assert "not run: the task is paused (its last change, at 2026-03-10 09:30:00" in page
            client.post("/tasks/hourly/resume", data={"csrf": token})
            after = client.get("/tasks/hourly?day=2026-03-10").text
            fates = re.findall(r'<li class="fate-(\w+)">', after)
            assert fates[9:14] == ["no_record", "skipped", "skipped", "skipped", "upcoming"]
            assert "skipped: the task was paused" in after
            assert client.get("/tasks/hourly?day=31-12-2026").status_code == 422
    finally:
        cw.close()


def test_tasks_page_filters_sorts_and_pages(cw: Cronwell, client: TestClient) -> None:
    for index in range(60):
        cw.add_task(
            f"t-{index:02d}",
            schedule=f"{index % 60} {index % 24} * * *",
            shell="true",
            tags=["even" if index % 2 == 0 else "odd"],
            name=f"Task number {index}",
        )
    cw.pause("t-05")
    cw.store.auto_pause("t-07", "3 failures in a row", cw.clock.now())
    for _ in range(3):
        cw.store.record_occurrence_result("t-09", failed=True)
    cw.store.record_occurrence_result("t-11", failed=True)

    def ids(html: str) -> list[str]:
        return re.findall(r'<td><a href="/tasks/(t-\d\d)">', html)

    now = cw.clock.now()
    expected = sorted(
        (t for t in cw.list_tasks() if t.enabled), key=lambda t: (t.next_fire_after(now), t.id)
    )
    for leading in (False, True):  # a standby computes next fires; the leader has them
        if leading:
            cw.start()
        first = client.get("/tasks").text
        assert ids(first) == [t.id for t in expected[:50]], f"leading={leading}"
        second = ids(client.get("/tasks?page=2").text)
        assert second[: len(expected) - 50] == [t.id for t in expected[50:]]
        assert set(second[len(expected) - 50 :]) == {"t-05", "t-07"}  # they do not fire
    assert "60 found" in first and "page 1 of 2" in first
    status = ids(client.get("/tasks?sort=status").text)
    assert status[:2] == ["t-09", "t-11"] and status[2:5] == ["t-00", "t-01", "t-02"]
    assert ids(client.get("/tasks?sort=id&page=2").text) == [f"t-{i}" for i in range(50, 60)]
    assert ids(client.get("/tasks?state=failing&sort=id").text) == ["t-09", "t-11"]
    assert ids(client.get("/tasks?state=auto_paused").text) == ["t-07"]
    assert ids(client.get("/tasks?state=paused&sort=id").text) == ["t-05", "t-07"]
    assert ids(client.get("/tasks?tag=odd&q=number 1&sort=id").text) == [
        "t-01",
        "t-11",
        "t-13",
        "t-15",
        "t-17",
        "t-19",
    ]
    overview = client.get("/").text
    assert "3 failures in a row" in overview and 'href="/tasks/t-09"' in overview
    counts = re.search(r'id="task-counts">(.*?)</div>', overview, re.S)
    assert counts and "<b>60</b>tasks" in counts.group(1)
    assert "<b>2</b>paused" in counts.group(1) and "<b>2</b>failing" in counts.group(1)
    upcoming = re.search(r'id="upcoming">(.*?)</section>', overview, re.S)
    assert upcoming and ids(upcoming.group(1).replace("<td><a", "<td><a"))[:3] == [
        t.id for t in expected[:3]
    ]


def test_read_only_mode_hides_and_refuses_actions(database_url: str) -> None:
    cw = make(database_url, dashboard_readonly=True, channels={"dev": "json://127.0.0.1:9/"})
    try:
        cw.add_task("job", schedule=every(hours=1), shell="true")
        with TestClient(create_app(cw)) as client:
            page = client.get("/tasks/job").text
            assert 'id="pause"' not in page and 'id="run-now"' not in page
            assert "read-only" in page
            assert "Send test" not in client.get("/alerts").text
            token = csrf_of(page)  # from the page's meta tag: there is no form
            for action in ("pause", "run", "delete"):
                refused = client.post(f"/tasks/job/{action}", data={"csrf": token})
                assert refused.status_code == 403 and "read-only" in refused.text
            refused = client.post("/alerts/test", data={"csrf": token, "channel": "dev"})
            assert refused.status_code == 403
        assert cw.get_task("job").enabled and cw.runs("job") == []
    finally:
        cw.close()


def test_sign_in_with_the_token_and_out(database_url: str) -> None:
    cw = make(database_url, api_token="s3cret-token-0123456789")
    try:
        with TestClient(create_app(cw), base_url="https://dash.test") as client:
            first = client.get("/tasks?tag=x", follow_redirects=False)
            assert first.status_code == 303
            assert first.headers["location"] == "/login?next=%2Ftasks%3Ftag%3Dx"
            login = client.get(first.headers["location"])
            assert login.status_code == 200 and 'name="token"' in login.text
            token = csrf_of(login.text)
            wrong = client.post("/login", data={"csrf": token, "token": "nope", "next": "/"})
            assert wrong.status_code == 401 and 'id="login-error"' in wrong.text
            no_csrf = client.post("/login", data={"token": "s3cret-token-0123456789"})
            assert no_csrf.status_code == 403
            signed = client.post(
                "/login",
                data={"csrf": token, "token": "s3cret-token-0123456789", "next": "//evil.test/"},
                follow_redirects=False,
            )
            assert signed.status_code == 303 and signed.headers["location"] == "/"
            cookie = signed.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
            page = client.get("/tasks")
            assert page.status_code == 200 and "Sign out" in page.text
            # the API still wants its bearer token: the cookie is the dashboard's only
            assert client.get("/api/v1/tasks").status_code == 401
            out = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
            assert out.status_code == 303 and out.headers["location"] == "/login"
            assert client.get("/", follow_redirects=False).status_code == 303
            client.cookies.set("cronwell_session", "eyJzaWQiOiJ4IiwiaW4iOnRydWUsImF0IjoxfQ.bad")
            assert client.get("/", follow_redirects=False).status_code == 303
        with TestClient(create_app(cw)) as plain:  # over HTTP the cookie is not Secure
            login = plain.get("/login")
            assert "secure" not in login.headers["set-cookie"].lower()
    finally:
        cw.close()


def test_docs_are_served_from_local_files(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "//" not in page.text.replace("://", "")
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/static/htmx.min.js").status_code == 200


def test_mounted_under_a_prefix_every_link_and_redirect_keeps_it(database_url: str) -> None:
    from fastapi import FastAPI

    from cronwell.contrib.fastapi import cronwell_app

    cw = make(database_url, api_token="s3cret-token-0123456789")
    cw.add_task("job", schedule="0 3 * * *", shell="true")
    outer = FastAPI()
    outer.mount("/scheduler", cronwell_app(cw))
    try:
        with TestClient(outer) as client:
            first = client.get("/scheduler/tasks", follow_redirects=False)
            assert first.headers["location"] == "/scheduler/login?next=%2Ftasks"
            login = client.get(first.headers["location"])
            signed = client.post(
                "/scheduler/login",
                data={
                    "csrf": csrf_of(login.text),
                    "token": "s3cret-token-0123456789",
                    "next": "/tasks",
                },
                follow_redirects=False,
            )
            assert signed.headers["location"] == "/scheduler/tasks"
            for path in (
                "/scheduler/",
                "/scheduler/tasks",
                "/scheduler/tasks/job",
                "/scheduler/docs",
            ):
                page = client.get(path)
                assert page.status_code == 200, path
                links = re.findall(
                    r'(?:href|action|src|hx-get|hx-post|data-openapi)="(/[^"]*)"', page.text
                )
                assert links and all(link.startswith("/scheduler/") for link in links), (
                    path,
                    links,
                )
                for link in links:
                    if (
                        "/static/" in link
                        or "/docs/assets/" in link
                        or link.endswith("openapi.json")
                    ):
                        assert client.get(link).status_code == 200, link
            assert 'href="/scheduler/tasks/job"' in client.get("/scheduler/tasks").text
            task_page = client.get("/scheduler/tasks/job").text
            paused = client.post(
                "/scheduler/tasks/job/pause",
                data={"csrf": csrf_of(task_page)},
                follow_redirects=False,
            )
            assert (
                paused.status_code == 303 and paused.headers["location"] == "/scheduler/tasks/job"
            )
            assert not cw.get_task("job").enabled
    finally:
        cw.close()


def test_a_run_on_a_celery_worker_shows_its_queue_and_worker(
    cw: Cronwell, client: TestClient
) -> None:
    cw.add_task("heavy", schedule=every(seconds=3600), shell="true", executor="celery")
    now = datetime.now(UTC)
    waiting_id, taken_id = (
        cw.store.insert_runs(
            [NewRun("heavy", now - timedelta(minutes=m), status=RunStatus.RUNNING, started_at=now)]
        )[0]
        for m in (1, 2)
    )
    assert waiting_id is not None and taken_id is not None
    cw.store.remote.mark_queued([waiting_id, taken_id], "reports")
    cw.store.remote.claim(taken_id, "celery@worker-7:4242", "worker-7", now)
    cw.store.register_instance("celery@worker-7:4242", "worker-7", 4242, now)

    waiting = client.get(f"/runs/{waiting_id}").text
    taken = client.get(f"/runs/{taken_id}").text
    overview = client.get("/").text

    assert "waiting for a worker" in waiting and "reports" in waiting
    assert "celery@worker-7:4242 on worker-7" in taken and "Worker" in taken
    assert ">queued<" in overview  # under way, with the runs going
    assert 'celery@worker-7:4242 <span class="badge">worker</span>' in overview
