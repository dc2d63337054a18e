"""The CLI's light copies of domain values (kept out of the domain's imports for fast
shell completion) stay equal to the domain's."""

from __future__ import annotations

import logging
from typing import get_args

import pytest

from cronwell.cli.choices import CatchupChoice, LogLevel, OverlapChoice, RunStatusChoice
from cronwell.cli.completion import DEFAULT_DATABASE_URL
from cronwell.domain.policies import Catchup, Overlap
from cronwell.domain.run import RunStatus
from cronwell.log import LEVELS
from cronwell.settings import DEFAULT_DATABASE_URL as SETTINGS_DEFAULT
from cronwell.store import Store
from cronwell.store.peek import sqlite_path


def test_choices_mirror_the_domain() -> None:
    assert [c.value for c in RunStatusChoice] == [s.value for s in RunStatus]
    assert [c.value for c in OverlapChoice] == list(get_args(Overlap))
    assert [c.value for c in CatchupChoice] == list(get_args(Catchup))
    assert [c.value for c in LogLevel] == list(LEVELS)
    assert all(isinstance(logging.getLevelName(level), int) for level in LEVELS)


def test_completion_reads_the_default_database() -> None:
    assert DEFAULT_DATABASE_URL == SETTINGS_DEFAULT


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///cronwell.db",
        "sqlite:////tmp/x/cronwell.db",
        "sqlite:///~/cw.db",
        "sqlite+pysqlite:///rel/dir/cw.db?timeout=5",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://u@h/db",
    ],
)
def test_completion_finds_the_file_the_store_opens(url: str) -> None:
    assert sqlite_path(url) == Store(url).sqlite_path


def test_completion_reads_the_tasks_table() -> None:
    from cronwell.store import peek, tables

    assert tables.tasks.name == peek._TABLE
