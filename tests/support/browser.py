"""A real ``cronwell serve`` and Debian's Chromium driven by Playwright, for the dashboard's
browser tests and ``make screenshots``.

Playwright's own browser download cannot work here: the browser is Debian's ``chromium``
package (``apt-get install -y chromium``), launched through ``executable_path``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CHROMIUM = Path(os.environ.get("CRONWELL_CHROMIUM", "/usr/bin/chromium"))
# as root, in a container: no sandbox, no GPU, nothing that phones home
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Served:
    """A running ``cronwell serve``: its base URL and the database it uses."""

    base: str
    database_url: str
    process: subprocess.Popen[str]
    log: Path


@contextmanager
def serve(
    folder: Path,
    *,
    tasks_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    pythonpath: Path | None = None,
) -> Iterator[Served]:
    """``cronwell serve`` on an SQLite file in ``folder``, on a free port, until the block
    ends; the address is read from the line the service prints once it listens."""
    database_url = f"sqlite:///{folder / 'cronwell.db'}"
    environment = {
        **os.environ,
        "CRONWELL_DATABASE_URL": database_url,
        "CRONWELL_TIMEZONE": "UTC",
        "CRONWELL_SHUTDOWN_GRACE": "2",
        "CRONWELL_POLL_INTERVAL": "0.2",
        **(env or {}),
    }
    if pythonpath is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(pythonpath), environment.get("PYTHONPATH", "")) if p
        )
    command = [sys.executable, "-m", "cronwell", "serve", "--port", "0"]
    if tasks_file is not None:
        command += ["--tasks", str(tasks_file)]
    log_path = folder / "serve.log"
    log: IO[str] = log_path.open("w")  # a file: a full pipe would block the service
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, env=environment, cwd=folder
    )
    try:
        assert process.stdout is not None
        base = None
        for line in process.stdout:
            found = re.search(r"Dashboard on (http://\S+?)/?$", line.strip())
            if found:
                base = found.group(1)
                break
        assert base, "no dashboard address: " + log_path.read_text()[-2000:]
        yield Served(base, database_url, process, log_path)
    finally:
        process.terminate()
        process.communicate(timeout=30)
        log.close()
