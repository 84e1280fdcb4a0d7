# `make run` and `make test` each set up .venv (create it, install the pinned requirements) when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test test-fast bench faults lint format

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(INSTALLED)

## Migrate and run web, worker and beat together on the embedded default; Ctrl-C stops all three.
## `make run PORT=8010 HOST=0.0.0.0` serves elsewhere. Plain `=`: only the command line overrides
## these, not an exported HOST (csh sets it to the machine's name) or PORT left by another tool.
HOST = 127.0.0.1
PORT = 8000
run: $(INSTALLED)
	$(BIN)/python manage.py runstack --host=$(HOST) --port=$(PORT)

## ruff, migrations in step with the models, and the whole pytest suite.
test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

## The suite without the end-to-end process test.
test-fast: $(INSTALLED)
	$(BIN)/pytest -m "not e2e"

## Every benchmark under bench/, at its small size.
bench: $(INSTALLED)
	@set -e; for script in bench/*/run.py; do echo "== $$script"; $(BIN)/python $$script; done

## The fault suite (faults/run.py): workers, Redis and PostgreSQL connections killed under load; exits 1 on any loss.
## `make faults SIZE=small` is the version CI runs; ONLY=ab picks scenarios (all four by default).
SIZE ?= full
ONLY ?= abcd
faults: $(INSTALLED)
	$(BIN)/python -m faults.run --size $(SIZE) --only $(ONLY)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
