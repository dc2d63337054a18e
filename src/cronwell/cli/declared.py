"""Tasks as code: ``cronwell validate``, ``plan``, ``apply``, ``export``, ``import`` and
``schema``. Exit codes: 0 done (``plan``: no change), 2 an invalid document, 10 ``plan``
found changes (so CI can gate on drift), 1 ``apply`` not confirmed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronwell.cli.app import JsonOpt, app, handles_errors, open_cronwell, options
from cronwell.cli.choices import DocumentFormat
from cronwell.cli.output import console, err_console, print_json

if TYPE_CHECKING:
    from cronwell.domain.task import Task
    from cronwell.runtime import Cronwell
    from cronwell.service.declared import Definition, Plan, Problem

EXIT_CHANGES = 10  # `plan` found a difference: the CI drift check
EXIT_NOT_CONFIRMED = 1
PROGRESS_ABOVE = 1000  # tasks; fewer are checked and stored in a blink

Files = Annotated[
    list[str],
    typer.Argument(help="Tasks documents (.toml, .yaml, .yml, .json); '-' reads standard input."),
]
FormatOpt = Annotated[
    DocumentFormat | None,
    typer.Option("--format", help="Spelling of '-' (default: by extension)."),
]
SourceOpt = Annotated[
    str | None,
    typer.Option("--source", help="Label of the declared tasks (default: each file's name)."),
]
PruneOpt = Annotated[
    bool, typer.Option("--prune", help="Delete the tasks of the same source(s) not declared.")
]


def _read(files: list[str], fmt: DocumentFormat | None) -> tuple[list[Definition], list[Problem]]:
    from cronwell.service.declared import read_documents

    return read_documents(files, fmt=_fmt(fmt))


@app.command("validate")
@handles_errors
def validate(files: Files, fmt: FormatOpt = None) -> None:
    """Check documents as a task creation would (schema, cron, zone, importable
    function, duplicate ids), report every problem as FILE:LINE: task ID: sentence,
    and exit 2 if there is any. Touches no database."""
    from cronwell.domain.timezones import canonical_timezone, system_timezone
    from cronwell.service.declared import check_definitions
    from cronwell.service.declared.documents import in_order
    from cronwell.settings import load_settings

    definitions, problems = _read(files, fmt)
    zone = options.timezone or load_settings().timezone or system_timezone()
    problems += check_definitions(definitions, default_timezone=canonical_timezone(zone))[1]
    if problems:
        for problem in in_order(problems):
            err_console.print(str(problem), markup=False, highlight=False)
        err_console.print(f"{len(problems)} problem(s).", markup=False)
        raise typer.Exit(2)
    console.print(
        f"{', '.join(files)}: {len(definitions)} task(s), valid.", markup=False, highlight=False
    )


@app.command("plan")
@handles_errors
def plan(
    files: Files,
    prune: PruneOpt = False,
    source: SourceOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what `apply` would change: + create, ~ update (field: old → new), - delete
    (with --prune), = unchanged, with the next fire times of new schedules. Writes
    nothing. Exit code 0 when there is no change, 10 when there are changes."""
    definitions, problems = _read(files, fmt)
    result = open_cronwell().plan(
        definitions, source=source, prune=prune, scope=_scope(files, source), problems=problems
    )
    _show(result, as_json)
    if result.has_changes:
        raise typer.Exit(EXIT_CHANGES)


@app.command("apply")
@handles_errors
def apply(
    files: Files,
    prune: PruneOpt = False,
    source: SourceOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the database hold the declared tasks, in one transaction (all or nothing),
    and print what changed. Asks before deleting on a terminal, unless --yes. A second
    apply of the same documents changes nothing."""
    _apply(open_cronwell(), files, fmt, source=source, prune=prune, yes=yes, as_json=as_json)


@app.command("import")
@handles_errors
def import_(
    file: Annotated[str, typer.Argument(help="A tasks document (an export); '-' for stdin.")],
    source: SourceOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or update the tasks of a document (`apply` without prune): restores an
    export."""
    _apply(open_cronwell(), [file], fmt, source=source, prune=False, yes=True, as_json=as_json)


@app.command("export")
@handles_errors
def export(
    tag: Annotated[str | None, typer.Option(help="Only tasks with this tag.")] = None,
    source: Annotated[str | None, typer.Option(help="Only tasks of this source.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    fmt: Annotated[
        DocumentFormat | None,
        typer.Option("--format", help="toml, yaml or json (default: by -o's extension, or toml)."),
    ] = None,
) -> None:
    """Write the stored task definitions (no state, no next runs) as a tasks document
    that `apply` or `import` reads back unchanged. Secrets are written as stored: keep
    the file private."""
    from cronwell.service.declared import dump_document

    kind: Any = _fmt(fmt) or _by_extension(output) or "toml"
    definitions = open_cronwell(existing=True).service.export(tag=tag, source=source)
    text = dump_document(definitions, kind)
    if output is None:
        sys.stdout.write(text)
        return
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    err_console.print(f"wrote {len(definitions)} task(s) to {output}", markup=False)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of tasks documents (for editors)."""
    from cronwell.service.declared import schema_text

    sys.stdout.write(schema_text())


def _apply(
    cw: Cronwell,
    files: list[str],
    fmt: DocumentFormat | None,
    *,
    source: str | None,
    prune: bool,
    yes: bool,
    as_json: bool,
) -> None:
    definitions, problems = _read(files, fmt)
    scope = _scope(files, source)
    service = cw.service
    if prune and not yes and sys.stdin.isatty():
        planned: Plan = service.plan(
            definitions, source=source, prune=True, scope=scope, problems=problems
        )
        if planned.delete:
            _show(planned, as_json=False)
            if not typer.confirm(f"Delete {len(planned.delete)} task(s)?", default=False):
                err_console.print("Nothing applied.")
                raise typer.Exit(EXIT_NOT_CONFIRMED)
    with _progress(len(definitions)) as progress:
        applied: Plan = service.apply(
            definitions,
            source=source,
            prune=prune,
            scope=scope,
            progress=progress,
            problems=problems,
        )
    if as_json:
        print_json(applied.as_json())
        return
    _show(applied, as_json=False, done=True)


def _scope(files: list[str], source: str | None) -> set[str]:
    """The sources a prune may delete from: the one given, or each file's name."""
    from cronwell.service.declared.documents import source_of

    return {source} if source else {source_of(f) for f in files}


def _fmt(fmt: DocumentFormat | None) -> str | None:
    return None if fmt is None else fmt.value


def _by_extension(path: Path | None) -> str | None:
    if path is None:
        return None
    return {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}.get(
        path.suffix.lower()
    )


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on a terminal for more than :data:`PROGRESS_ABOVE` tasks: the
    definitions checked, then the changes being stored (one transaction, so a pulsing bar
    until it commits)."""
    if total <= PROGRESS_ABOVE or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        "{task.description}",
        BarColumn(),
        TextColumn("{task.fields[counted]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        step = bar.add_task("checking", total=total, counted="")

        def advance(phase: str, done: int, of: int) -> None:
            if phase == "storing" and done < of:
                counted = f"{of:,} change(s)"
                bar.update(step, description=phase, total=None, counted=counted)
            else:
                counted = f"{done:,}/{of:,}"
                bar.update(step, description=phase, completed=done, total=of, counted=counted)

        yield advance


def _show(plan: Plan, as_json: bool, *, done: bool = False) -> None:
    """The plan for people (``+ ~ - =`` lines) or scripts (``--json``)."""
    if as_json:
        print_json(plan.as_json())
        return
    out = console
    for task in plan.create:
        out.print(f"+ {task.id}  {_what(task)}", style="green", markup=False, highlight=False)
        _times(plan, task)
    for change in plan.update:
        out.print(f"~ {change.id}", style="yellow", markup=False, highlight=False)
        for name, (old, new) in change.changes.items():
            out.print(f"    {name}: {_value(old)} → {_value(new)}", markup=False, highlight=False)
        if change.task is not None and change.reschedules:
            _times(plan, change.task)
    for task in plan.delete:
        out.print(
            f"- {task.id}  (source {task.source})", style="red", markup=False, highlight=False
        )
    if plan.unchanged:
        out.print(f"= {plan.unchanged} unchanged", markup=False, highlight=False)
    if done and plan.has_changes:
        out.print(f"Applied: {plan.summary()}", markup=False, highlight=False)
    else:
        out.print(plan.summary(), markup=False, highlight=False)


def _what(task: Task) -> str:
    return (
        f"{task.schedule.expression()} ({task.timezone}); {task.action.summary()}; "
        f"source {task.source}"
    )


def _times(plan: Plan, task: Task) -> None:
    times = plan.next_fires(task)
    if times:
        shown = ", ".join(t.isoformat() for t in times)
        console.print(f"    next: {shown}", markup=False, highlight=False)
    elif not task.enabled:
        console.print("    next: paused", markup=False, highlight=False)
    else:
        console.print("    next: none (its time has passed)", markup=False, highlight=False)


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
