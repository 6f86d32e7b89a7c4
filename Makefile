# The two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data
SEEDS ?= 2000

.PHONY: run test lint typecheck pytest bench chaos clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24,<27"

# A stamp per install profile, redone whenever pyproject.toml changes.
$(VENV)/.run-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[edge,cloud]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[edge,cloud,dev]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	DATA_DIR=$(DATA_DIR) $(PY) -m cloud.runner

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(VENV)/bin/mypy

pytest: $(VENV)/.dev-installed
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

bench: $(VENV)/.dev-installed
	$(PY) -m bench

chaos: $(VENV)/.dev-installed
	CHAOS_SEEDS=$(SEEDS) $(VENV)/bin/pytest -q -m chaos tests/chaos --timeout=0

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
