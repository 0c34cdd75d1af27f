# redispolicy developer tasks. GNU make.
#
#   make venv          create .venv and install redispolicy with its test tools
#   make redis-server  make sure a redis-server binary is on PATH (installs it as root)
#   make test          run the test suite (starts its own redis-server processes on 127.0.0.1)
#   make lint          ruff, mypy, actionlint
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

.PHONY: venv redis-server test lint demo clean distclean

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

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint .github/workflows/*.yml

demo: venv redis-server
	bash scripts/demo.sh

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
