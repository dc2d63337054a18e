"""``docs/reference/cli.md``: every command, argument and option of ``cronwell``, written by
Typer's own documentation generator (``typer cronwell.cli.main utils docs``) from the same
app that answers ``--help``."""

from __future__ import annotations

import os
import subprocess
import sys

from docs.gen import ROOT, generated_note

INTRO = """\
# CLI reference

{note}

Every command of `cronwell`, as its `--help` prints it. Every listing takes `--json`. An
error is one sentence on stderr and an exit code per kind of error ([exit
codes](#exit-codes)). The global options `--database-url` and `--timezone` also come from
`CRONWELL_DATABASE_URL` and `CRONWELL_TIMEZONE` (see [settings](settings.md)).

"""


def render() -> str:
    """Typer's Markdown for the app, under a title of the site's own; the program's heading
    moves down a level so that each command is a section of this page."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "typer", "cronwell.cli.main", "utils", "docs", "--name", "cronwell"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    body = done.stdout.strip() + "\n"
    if body.startswith("# "):
        body = "#" + body
    intro = INTRO.format(note=generated_note("the Typer app `cronwell.cli.app`"))
    return intro + body + "\n" + exit_codes()


def exit_codes() -> str:
    """The exit code of each error of :mod:`cronwell.errors`, as ``cli/errors.py`` maps
    them, with the codes that are not errors."""
    import cronwell.errors
    from cronwell.cli.declared import EXIT_CHANGES
    from cronwell.cli.errors import (
        EXIT_INTERRUPTED,
        EXIT_OK,
        EXIT_RUN_FAILED,
        EXIT_USAGE,
        exit_code,
    )

    by_code: dict[int, list[str]] = {}
    for name, cls in vars(cronwell.errors).items():
        if isinstance(cls, type) and issubclass(cls, cronwell.errors.CronwellError):
            error = cls.__new__(cls)  # only its class matters to exit_code
            by_code.setdefault(exit_code(error), []).append(name)
    rows = {
        EXIT_OK: ["done (`plan`: nothing to change)"],
        EXIT_RUN_FAILED: ["a run started from the CLI did not succeed; `apply` not confirmed"],
        EXIT_USAGE: ["a missing or malformed argument or option"],
        EXIT_CHANGES: ["`plan` found changes (the CI drift check)"],
        EXIT_INTERRUPTED: ["interrupted (Ctrl+C); a run in progress is recorded `interrupted`"],
    }
    for code, names in by_code.items():
        errors = (f"[`{n}`](python-api.md#cronwell.errors.{n})" for n in sorted(names))
        rows.setdefault(code, []).append(", ".join(errors))
    lines = ["## Exit codes", "", "| code | when |", "|---|---|"]
    lines += [f"| {code} | {'; '.join(rows[code])} |" for code in sorted(rows)]
    return "\n".join(lines) + "\n"
