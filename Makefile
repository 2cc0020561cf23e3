# Fareroom — `make run` and `make test` each set up everything they need in .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint typecheck bench fault install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/fareroom migrate
	$(BIN)/fareroom demo
	$(BIN)/fareroom serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The fault simulator (docs/fault.md): FAULT_SCHEDULES seeded schedules on SQLite, forked
# over FAULT_WORKERS processes; a violation prints its seed and shortest schedule.
FAULT_SCHEDULES ?= 10000
FAULT_WORKERS ?= 2
fault: $(STAMP)
	$(BIN)/python -m tests.fault --schedules $(FAULT_SCHEDULES) --workers $(FAULT_WORKERS)

bench: $(STAMP)
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/payments.py
	$(BIN)/python bench/meter.py
	$(BIN)/python bench/realtime.py
	$(BIN)/python bench/meetings.py
	$(BIN)/python bench/runs.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
