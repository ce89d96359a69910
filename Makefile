# The two commands of the README: `make demo` and `make test`. Each sets up .venv from
# nothing but Python 3 and the package registries, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck unit lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/cxpipe demo --output output

lint: setup
	$(BIN)/ruff check src tests flows examples
	$(BIN)/ruff format --check src tests flows examples

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint typecheck unit

# Re-resolve the pins (needs the registries); commit the new requirements.lock.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	{ echo "# Pinned by 'make lock' from pyproject.toml (all extras); installed by 'make setup'."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v -i '^cxpipe'; } > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) output demo-data .mypy_cache .ruff_cache .pytest_cache
