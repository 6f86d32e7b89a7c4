# The two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data
SEEDS ?= 2000

.PHONY: run test lint typecheck pytest bench bench-growth chaos clean model seed system-packages doctor outbox

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24,<27"

# Defined before the rules that name it: make expands a rule's prerequisites as it reads the rule.
EDGE_WHEELS := .cache/edge-wheels

# The edge with both Python inference runtimes (the SDK's tests run the model in each).
EDGE_EXTRAS := edge,edge-litert,edge-tflite,ecs

# A stamp per install profile, redone whenever pyproject.toml changes.
$(VENV)/.run-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$(EDGE_EXTRAS),cloud]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$(EDGE_EXTRAS),cloud,dev]'
	touch $@ $(VENV)/.run-installed

# exec: the shell of the recipe becomes the runner, so the SIGTERM GNU make forwards to its child
# when make itself gets one (a supervisor's stop) reaches the runner, which stops worker, API and
# Redis. Without it the shell died and left them all serving.
run: $(VENV)/.run-installed
	DATA_DIR=$(DATA_DIR) exec $(PY) -m cloud.runner

# A demo population in $(DATA_DIR), evaluated once; refuses a database it already seeded.
USERS ?= 200
seed: $(VENV)/.run-installed
	DATA_DIR=$(DATA_DIR) $(PY) -m cloud.seed --users $(USERS)

# An operator's first look at a running cloud (make run's, unless ECS_SERVER_URL and ADMIN_TOKEN
# name another): ecs doctor's checks, exit 1 if one fails; ecs outbox stats.
ECS_SERVER_URL ?= http://127.0.0.1:8000
ADMIN_TOKEN ?= dev-admin-token
doctor: $(VENV)/.run-installed
	ECS_SERVER_URL=$(ECS_SERVER_URL) ADMIN_TOKEN=$(ADMIN_TOKEN) $(PY) -m ecs.cli doctor

outbox: $(VENV)/.run-installed
	ECS_SERVER_URL=$(ECS_SERVER_URL) ADMIN_TOKEN=$(ADMIN_TOKEN) $(PY) -m ecs.cli outbox stats

# lint-imports checks the import contracts of .importlinter (the layers of docs/architecture.md).
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.dev-installed
	$(VENV)/bin/mypy

pytest: $(VENV)/.dev-installed system-packages $(EDGE_WHEELS)/.stamp
	$(VENV)/bin/pytest -q

# Wheels of what the edge install needs (its dependencies and the build backend), fetched from the
# package registry once per pyproject.toml: the edge-install test then builds the SDK's wheel and
# installs it into a fresh virtualenv from these alone, offline (tests/integration/edge_install).
$(EDGE_WHEELS)/.stamp: pyproject.toml | $(PY)
	rm -rf $(EDGE_WHEELS)
	$(PY) -m pip wheel --quiet --wheel-dir $(EDGE_WHEELS) '.[edge]' 'setuptools>=68,<81'
	rm -f $(EDGE_WHEELS)/empathic_credit-*.whl
	touch $@

test: lint typecheck pytest

bench: $(VENV)/.dev-installed system-packages
	$(PY) -m bench

# Separate from bench: it builds a SQLite database of over a gigabyte and loads it for 2 x 10 min
# (bench/growth.py says what it measures; ARGS="--duration 60" shortens it).
bench-growth: $(VENV)/.dev-installed
	$(PY) -m bench.growth --unbounded $(ARGS)

# Programs the tests and benchmarks run that pip does not install: wrk, the load generator of
# bench.sync_ingest (its smoke test runs it too), and chromium, the browser of the page tests
# (Playwright drives it; it never downloads one), and nginx, the reverse proxy of the TLS example
# in docs/examples (its test runs that file), and pg_dump, which backs up PostgreSQL (the backup
# tests run it, and use the server's own major version where Debian installed one); each as
# command:Debian package.
# A missing one is installed with apt-get when make runs as root where apt-get exists; otherwise
# the target says what is missing and how to install it, and stops.
SYSTEM_PACKAGES := wrk:wrk chromium:chromium nginx:nginx-light pg_dump:postgresql-client

system-packages:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do \
		command -v $${p%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${p%%:*} ] || missing="$$missing $${p#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	else \
		echo "missing:$$missing (needed by make pytest and make bench). Install it with your package" \
			"manager (sudo apt-get install$$missing; brew install$$missing) and run make again." >&2; \
		exit 1; \
	fi

chaos: $(VENV)/.dev-installed
	CHAOS_SEEDS=$(SEEDS) $(VENV)/bin/pytest -q -m chaos tests/chaos --timeout=0

# Training needs TensorFlow (the `train` extra), kept out of .venv: `make test` never imports it.
# TensorFlow brings numpy 2 here, which is fine: this environment never imports tflite-runtime.
TRAIN_VENV := .venv-train

$(TRAIN_VENV)/.train-installed: pyproject.toml
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(TRAIN_VENV)/bin/python -m pip install --quiet -e '.[train]'
	touch $@

# Retrain from the seed and rewrite edge_sdk/inference/artifacts (the model the SDK ships); fails if the held-out metrics drift by more
# than 0.01 from the committed manifest's (TensorFlow training is not bit-reproducible).
MODEL_DIR := edge_sdk/inference/artifacts
model: $(TRAIN_VENV)/.train-installed
	$(TRAIN_VENV)/bin/python -m models.train --out $(MODEL_DIR) \
		$(if $(wildcard $(MODEL_DIR)/manifest.json),--compare-to $(MODEL_DIR)/manifest.json)

clean:
	rm -rf $(VENV) $(TRAIN_VENV) .cache .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
