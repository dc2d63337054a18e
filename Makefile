# One entry point for every check. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint format typecheck layers docs docs-references bench chaos screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: start `cronwell serve` with the example tasks on ./cronwell.db (SQLite); it prints
## the dashboard's address (http://127.0.0.1:8080/)
demo: $(STAMP)
	PYTHONPATH=examples $(BIN)/cronwell serve --tasks examples/tasks.toml

## test: the whole suite (PostgreSQL tests skip unless reachable; CRONWELL_REQUIRE_SERVICES=1 makes them fail instead)
test: $(STAMP)
	$(BIN)/pytest

## check: lint, format, strict typing, the layer contracts and the strict docs build
check: lint typecheck layers docs

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples docs/gen
	$(BIN)/ruff format --check src tests benchmarks examples docs/gen

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples docs/gen
	$(BIN)/ruff check --fix src tests benchmarks examples docs/gen

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --explicit-package-bases -p docs.gen

layers: $(STAMP)
	$(BIN)/lint-imports

## docs: build the documentation site into site/, strictly: a broken link or anchor, or a
## page missing from the nav, fails it (offline: no web fonts, nothing downloaded)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## docs-references: write the generated reference pages again (CLI, settings, HTTP API,
## tasks documents) after a command, a setting or an endpoint changed
docs-references: $(STAMP)
	$(BIN)/python -m docs.gen

## bench: benchmarks against raw APScheduler (prints figures; asserts nothing)
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## chaos: faults against real `cronwell serve` processes on PostgreSQL, judged by an execution
## ledger (about 5 minutes; `make chaos CHAOS_ARGS=--quick` for about a minute; exits 1 on a missed target)
chaos: $(STAMP)
	$(BIN)/python -m benchmarks.chaos $(CHAOS_ARGS)

## screenshots: regenerate docs/images/{overview,task,run}.png from the demo, in Debian's
## Chromium (apt-get install -y chromium)
screenshots: $(STAMP)
	$(BIN)/python -m tests.support.screenshots docs/images

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
