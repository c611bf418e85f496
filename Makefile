# The README's commands. A fresh clone needs only Python 3.11+ and make: uv is bootstrapped
# into .tools/ when it is not on the PATH, and it installs everything else from the lock file.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

.PHONY: up test lint fmt clean sync contracts bench

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"

.venv/.synced: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml services/*/pyproject.toml)
	$(UV) sync --frozen --all-packages
	touch $@

sync: .venv/.synced

up: sync  ## run the whole backend on embedded NATS and PostgreSQL (or NATS_URL / DATABASE_URL)
	$(UV) run --frozen baro up

test: sync  ## the whole test suite on real NATS JetStream and PostgreSQL
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy contracts/src chassis/src services/*/src
	$(UV) run --frozen python -m baro_contracts.generate --check

fmt: sync
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

contracts: sync  ## regenerate the JSON Schema and AsyncAPI documents from the models
	$(UV) run --frozen python -m baro_contracts.generate

bench: sync
	$(UV) run --frozen python bench/registration_relay.py
	$(UV) run --frozen python bench/audit_ingest.py
	$(UV) run --frozen python bench/scoring.py
	$(UV) run --frozen python bench/reporting.py

clean:  ## remove the local stack's data, the environment and caches
	rm -rf .data .venv .tools .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
