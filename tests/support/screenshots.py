"""``make screenshots``: serve the demo (examples/tasks.toml) on a fresh database, let it run
for a while, and take the dashboard's overview, the ``flaky`` task and one of its failed
runs with Debian's Chromium into ``docs/images/``.

Usage: ``python -m tests.support.screenshots [FOLDER] [--seconds N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.browser import chromium, missing_browser, serve

ROOT = Path(__file__).resolve().parents[2]


def _api(base: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--seconds", type=float, default=45, help="demo history to gather")
    options = parser.parse_args()
    reason = missing_browser()
    if reason:
        raise SystemExit(reason)
    out = Path(options.folder)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CRONWELL_API_FUNCTIONS": "demo_tasks", "CRONWELL_TIMEZONE": "Europe/Paris"}
        tasks = ROOT / "examples" / "tasks.toml"
        with serve(Path(tmp), tasks_file=tasks, env=env, pythonpath=ROOT / "examples") as demo:
            base = demo.base
            until = time.monotonic() + options.seconds
            failed: list[dict[str, Any]] = []
            while time.monotonic() < until or not failed:
                _api(base, "/api/v1/tasks/flaky/run", "POST")  # more history, sooner
                time.sleep(2)
                failed = _api(base, "/api/v1/runs?task_id=flaky&status=failed")["items"]
                if time.monotonic() > until + 120:
                    raise SystemExit("the flaky task did not fail in time")
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for name, path in (
                    ("overview", "/"),
                    ("task", "/tasks/flaky"),
                    ("run", f"/runs/{failed[0]['id']}"),
                ):
                    page.goto(base + path)
                    page.screenshot(path=str(out / f"{name}.png"), full_page=name != "task")
                    print(f"{out / name}.png")


if __name__ == "__main__":
    main()
