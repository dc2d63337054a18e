"""The generated reference pages say what the code says: each one is generated again here
and compared with the committed file (``make docs-references`` writes them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from docs.gen import REGENERATE, ROOT, references

from cronwell.settings import Settings

GENERATED = references()


@pytest.mark.parametrize(
    ("path", "render"),
    list(GENERATED.items()),
    ids=[str(path.relative_to(ROOT)) for path in GENERATED],
)
def test_the_committed_reference_is_what_the_code_generates(
    path: Path, render: Callable[[], str]
) -> None:
    expected = render()
    committed = path.read_text(encoding="utf-8") if path.exists() else None
    assert committed == expected, (
        f"{path.relative_to(ROOT)} differs from what the code generates: run "
        f"`{REGENERATE}` and commit the result."
    )


def test_every_setting_has_its_variable_on_the_settings_page() -> None:
    page = (ROOT / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"## `CRONWELL_{name.upper()}`" in page


def test_every_command_is_on_the_cli_page() -> None:
    import typer.main

    from cronwell.cli.main import app

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    commands = getattr(root, "commands", {})
    assert len(commands) >= 10
    for name, command in commands.items():
        assert f"## `cronwell {name}`" in page
        for sub in getattr(command, "commands", {}):
            assert f"## `cronwell {name} {sub}`" in page


def test_every_operation_of_the_api_is_on_the_http_page() -> None:
    page = (ROOT / "docs" / "reference" / "http-api.md").read_text(encoding="utf-8")
    document = json.loads((ROOT / "docs" / "reference" / "openapi.json").read_text())
    operations = [
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 15
    for method, path in operations:
        assert f"### {method.upper()} `{path}`" in page
