"""The dashboard in a real browser (Debian's Chromium through Playwright) against a real
``cronwell serve`` on an SQLite file: what a new user does when something goes wrong.
PostgreSQL is covered for the same pages and actions by tests/integration/test_dashboard.py.

Without Chromium or Playwright these tests skip, and fail when
``CRONWELL_REQUIRE_SERVICES=1`` (CI installs ``chromium`` with apt-get)."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import service_unavailable
from tests.support.browser import Served, chromium, missing_browser, serve
from tests.support.waiting import wait_until

from cronwell import Cronwell
from cronwell.clock import FrozenClock

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

TOKEN = "browser-token-0123456789abcdef"
XSS = "<script>alert('desc')</script>\" onmouseover=\"alert('hover')"
MODULE = '''
import time


def broken():
    """Fails every time, with a traceback to read."""
    return {}["no such key"] / 0


def quick():
    time.sleep(0.3)
    print("quick ran")


def noisy():
    print(XSS)
    raise RuntimeError(XSS)
'''
TASKS = """
[[tasks]]
id = "broken"
every = "2s"
action = { kind = "python", func = "dashmod:broken" }

[[tasks]]
id = "quick"
cron = "0 3 * * *"
action = { kind = "python", func = "dashmod:quick" }

[[tasks]]
id = "xss"
cron = "0 4 * * *"
action = { kind = "python", func = "dashmod:noisy" }
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = missing_browser()
    if reason:
        service_unavailable(reason)
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    yield opened
    context.close()


def prepare(folder: Path) -> Path:
    """The functions module and tasks file; a task created ten minutes before, while no
    scheduler ran, so that its occurrences meanwhile are recorded missed at start."""
    (folder / "dashmod.py").write_text(f"XSS = {XSS!r}\n" + textwrap.dedent(MODULE))
    tasks = folder / "tasks.toml"
    tasks.write_text(TASKS)
    earlier = FrozenClock(datetime.now(UTC) - timedelta(minutes=10))
    cw = Cronwell(f"sqlite:///{folder / 'cronwell.db'}", "UTC", clock=earlier)
    try:
        cw.add_task("every-5", schedule="*/5 * * * *", shell="true", catchup="none")
        cw.add_task("xss-desc", schedule="0 5 * * *", shell="true", description=XSS, name=XSS)
    finally:
        cw.close()
    return tasks


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("dashboard")
    tasks = prepare(folder)
    env = {"CRONWELL_API_FUNCTIONS": "dashmod", "CRONWELL_MAINTENANCE_CRON": ""}
    with serve(folder, tasks_file=tasks, env=env, pythonpath=folder) as running:
        yield running


def api(served: Served, path: str) -> Any:
    with urllib.request.urlopen(served.base + path, timeout=10) as answer:
        return json.load(answer)


def test_a_failing_task_on_the_overview_and_its_traceback_in_two_clicks(
    served: Served, page: Any
) -> None:
    wait_until(
        lambda: api(served, "/api/v1/tasks/broken/stats")["consecutive_failures"] > 0,
        timeout=30,
        what="a failed run of 'broken'",
    )
    page.goto(served.base + "/")
    failing = page.locator("#failing")
    assert "broken" in failing.inner_text()
    failing.get_by_role("link", name="broken").click()  # click 1: the task
    page.wait_for_url("**/tasks/broken")
    page.locator('#runs tr.run-row[data-status="failed"] a').first.click()  # click 2: its run
    page.wait_for_url("**/runs/*")
    assert page.locator("#run-status").inner_text() == "failed"
    traceback = page.locator("#traceback-text").inner_text()
    assert "Traceback (most recent call last)" in traceback and "KeyError" in traceback


def test_run_now_shows_the_new_run_without_reloading_then_pause(served: Served, page: Any) -> None:
    page.goto(served.base + "/tasks/quick")
    page.evaluate("window.notReloaded = true")
    rows = page.locator("#runs tr.run-row")
    before = rows.count()
    page.locator("#run-now").click()
    page.locator('#runs tr.run-row[data-status="succeeded"]').nth(before).wait_for()
    assert rows.count() == before + 1
    assert page.evaluate("window.notReloaded") is True  # htmx swapped the section in place
    assert page.url.endswith("/tasks/quick")

    assert page.locator("#task-state").inner_text() == "active"
    page.locator("#pause").click()
    page.locator("#resume").wait_for()
    assert page.locator("#task-state").inner_text() == "paused"
    assert api(served, "/api/v1/tasks/quick")["enabled"] is False
    page.locator("#resume").click()
    page.locator("#pause").wait_for()
    assert page.locator("#task-state").inner_text() == "active"


def test_the_timeline_explains_a_missed_occurrence(served: Served, page: Any) -> None:
    missed = api(served, "/api/v1/runs?task_id=every-5&status=missed")["items"]
    assert missed, "the start recorded no missed occurrence"
    when = datetime.fromisoformat(missed[0]["scheduled_for"])
    page.goto(f"{served.base}/tasks/every-5?day={when.date().isoformat()}")
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    text = page.locator("#timeline li.fate-missed", has_text=stamp).inner_text()
    assert "missed: no scheduler was running at that time" in text
    assert f"run #{missed[0]['id']}" in text
    assert page.locator("#timeline li.fate-upcoming").count() > 0


def test_user_text_renders_as_text_and_raises_no_dialog(served: Served, page: Any) -> None:
    page.goto(served.base + "/tasks/xss-desc")
    assert page.locator("#description").inner_text() == XSS
    page.locator("#description").hover()
    page.goto(served.base + "/tasks/xss")
    page.locator("#run-now").click()
    link = page.locator('#runs tr.run-row[data-status="failed"] a').first
    link.wait_for()
    link.click()
    page.wait_for_url("**/runs/*")
    assert XSS in page.locator("#output-text").inner_text()
    assert XSS in page.locator("#run-error").inner_text()
    page.locator("#output-text").hover()
    page.goto(served.base + "/tasks?q=xss")
    page.locator("#tasks-table").hover()
    assert page.dialogs == []
    assert page.evaluate("document.querySelectorAll('main script').length") == 0


def test_sign_in_with_the_token(tmp_path: Path, page: Any) -> None:
    with serve(tmp_path, env={"CRONWELL_API_TOKEN": TOKEN}) as running:
        page.goto(running.base + "/tasks")
        page.wait_for_url("**/login?next=%2Ftasks")
        page.locator("#token").fill("not the token")
        page.locator("#token").press("Enter")
        page.locator("#login-error").wait_for()
        page.locator("#token").fill(TOKEN)
        page.locator("#token").press("Enter")
        page.wait_for_url("**/tasks")
        (cookie,) = [c for c in page.context.cookies() if c["name"] == "cronwell_session"]
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        page.goto(running.base + "/")
        assert page.locator("h1").inner_text() == "Overview"
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
        page.goto(running.base + "/")
        page.wait_for_url("**/login?next=%2F")


def test_read_only_mode(tmp_path: Path, page: Any) -> None:
    tasks = prepare(tmp_path)
    env = {"CRONWELL_DASHBOARD_READONLY": "1", "CRONWELL_API_FUNCTIONS": "dashmod"}
    with serve(tmp_path, tasks_file=tasks, env=env, pythonpath=tmp_path) as running:
        page.goto(running.base + "/tasks/quick")
        assert page.locator("#pause").count() == 0 and page.locator("#run-now").count() == 0
        assert page.locator("header .badge").inner_text() == "read-only"
        status = page.evaluate(
            """async () => {
                const csrf = document.querySelector('meta[name=csrf]').content;
                const answer = await fetch('/tasks/quick/pause', {method: 'POST',
                    headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                    body: 'csrf=' + encodeURIComponent(csrf)});
                return answer.status;
            }"""
        )
        assert status == 403
        assert api(running, "/api/v1/tasks/quick")["enabled"] is True
