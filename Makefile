# The two commands of the README: `make demo` and `make test`. Each sets up .venv from
# nothing but Python 3 and the package registries, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The connector distributions: installed into the same venv, each linted, type-checked and
# tested on its own (their tests/ folders would clash in one run).
PLUGINS := $(wildcard plugins/cxpipe-*)

.PHONY: setup demo test lint typecheck unit lock clean system-packages

$(STAMP): pyproject.toml requirements.lock $(wildcard plugins/cxpipe-*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	for plugin in $(PLUGINS); do $(BIN)/python -m pip install --quiet --no-deps -e $$plugin || exit 1; done
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/cxpipe demo --output output

lint: setup
	$(BIN)/ruff check src tests flows examples benchmarks plugins
	$(BIN)/ruff format --check src tests flows examples benchmarks plugins

typecheck: setup
	$(BIN)/mypy
	for plugin in $(PLUGINS) plugins/_template; do $(BIN)/mypy $$plugin/src $$plugin/tests || exit 1; done

# Debian packages the tests drive for real: PostgreSQL server binaries for the SQL
# connector's tests, which start and delete their own private server (no service runs), and
# Chromium for the scorecard's browser test. Installed where apt-get exists and they are
# missing; elsewhere those tests skip, except under CI=true, where they fail instead.
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium fonts-dejavu-core"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The plugins' own suites first, cxpipe's last (its summary closes the log).
unit: setup system-packages
	for plugin in $(PLUGINS); do $(BIN)/pytest -q -p no:cacheprovider $$plugin/tests || exit 1; done
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
