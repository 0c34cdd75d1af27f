# redispolicy developer tasks. GNU make.
#
#   make venv          create .venv and install redispolicy with its test tools
#   make redis-server  make sure a redis-server binary is on PATH (installs it as root)
#   make test          run the test suite (starts its own redis-server processes on 127.0.0.1)
#   make fmt           format the code (ruff format) and apply ruff's safe fixes
#   make lint          ruff (lint and format check), mypy, actionlint
#   make hooks         install the git pre-commit hooks of .pre-commit-config.yaml (the lint tools, locally)
#   make demo          seed a throwaway local Redis and run redispolicy against it
#   make clean         remove build output and tool caches (make distclean also removes .venv)

SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Stamps live inside the venv: deleting .venv forgets them too.
STAMP      := $(VENV)/.install.stamp
LINT_STAMP := $(VENV)/.install-lint.stamp

.PHONY: venv redis-server test fmt lint hooks demo clean distclean

venv: $(STAMP)

# Reinstall only when the packaging metadata changed (or the venv is new).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[test]'
	@touch $@

$(LINT_STAMP): $(STAMP)
	$(PY) -m pip install -e '.[test,lint]'
	@touch $@

redis-server:
	@if command -v redis-server >/dev/null 2>&1; then \
	  echo "redis-server: $$(command -v redis-server) ($$(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'))"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; \
	elif [ "$${REDISPOLICY_REQUIRE_SERVERS:-}" = 1 ]; then \
	  echo "redis-server is not installed and REDISPOLICY_REQUIRE_SERVERS=1." >&2; \
	  echo "Install it (e.g. 'sudo apt-get install redis-server') or rerun as root." >&2; \
	  exit 1; \
	else \
	  echo "warning: redis-server is not installed; tests that need a real server will be skipped." >&2; \
	  echo "         Install it with 'sudo apt-get install redis-server' (or point" >&2; \
	  echo "         REDISPOLICY_TEST_SERVERS=name=/path/to/redis-server at one)." >&2; \
	fi

test: venv redis-server
	$(PY) -m pytest -q

# Fixes first (an import sort can leave lines for the formatter), then the formatter. What ruff
# cannot fix is printed and left to `make lint`, so the formatter runs either way.
fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix --exit-zero .
	$(VENV)/bin/ruff format .

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint .github/workflows/*.yml

# pre-commit is a developer tool, not a dependency of redispolicy: installed into the venv only here.
hooks: $(LINT_STAMP)
	$(PY) -m pip install pre-commit
	$(VENV)/bin/pre-commit install

demo: venv redis-server
	bash scripts/demo.sh

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
