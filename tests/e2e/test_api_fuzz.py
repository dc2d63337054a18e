"""schemathesis against a real ``cronwell serve``: a bounded run (fixed seed, a few dozen
examples per operation, every check) over loopback HTTP with the token, on an SQLite file.
It fails on any 5xx and on any answer that strays from the OpenAPI document."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

TOKEN = "fuzz-token-0123456789abcdef"
SEED = "18"
EXAMPLES = "25"  # per operation: about half a minute for the whole document
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    tasks = tmp_path / "tasks.toml"
    tasks.write_text(
        textwrap.dedent("""
        [[tasks]]
        id = "probe"
        cron = "*/5 * * * *"
        action = { kind = "http", url = "http://127.0.0.1:9/", headers = { X-Api-Key = "k" } }
        """)
    )
    env = {
        **os.environ,
        "CRONWELL_DATABASE_URL": f"sqlite:///{tmp_path / 'fuzz.db'}",
        "CRONWELL_TIMEZONE": "UTC",
        "CRONWELL_API_TOKEN": TOKEN,
        "CRONWELL_SHUTDOWN_GRACE": "2",
    }
    log = (tmp_path / "serve.log").open("w")  # a file: a full pipe would block the service
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronwell", "serve", "--tasks", str(tasks), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        base = None
        for line in proc.stdout:  # the service prints its address once it listens
            found = re.search(r"API on (http://\S+)/api/v1", line)
            if found:
                base = found.group(1)
                break
        assert base, "no API address: " + (tmp_path / "serve.log").read_text()[-2000:]
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
        log.close()


# the declared bearer scheme turns on schemathesis's check that each operation refuses a
# request without the token: more requests than the default timeout leaves room for
@pytest.mark.timeout(420)
def test_schemathesis_finds_nothing(served: str, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(schemathesis),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            f"{served}/openapi.json",
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            EXAMPLES,
            "--no-shrink",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # schemathesis keeps a cache folder in its working directory
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", result.stdout), result.stdout[-2000:]
