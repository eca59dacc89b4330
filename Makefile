# iotrack: `make help` lists the targets. Everything runs from .venv, created by `make setup`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
# `make check` must not write into the tree: no bytecode, no tool caches (Hypothesis keeps a
# cache of the constants in the code even without an example database: outside the tree).
NOWRITE := PYTHONDONTWRITEBYTECODE=1 HYPOTHESIS_STORAGE_DIRECTORY=$${TMPDIR:-/tmp}/iotrack-hypothesis
PACKAGES := topics processors streams readers
# The Debian packages each target needs (streams/local/system_packages.py): installed as root,
# else one sentence naming the command to run. It runs before .venv exists.
SYSTEM := $(NOWRITE) $(PYTHON) -m streams.local.system_packages install
# The official AsyncAPI parser (npm, pinned by the lock file) that checks docs/asyncapi.json.
ASYNCAPI := deploy/asyncapi
NODE_STAMP := $(ASYNCAPI)/node_modules/.installed-$(shell sha256sum $(ASYNCAPI)/package-lock.json | cut -c1-12)

.DEFAULT_GOAL := help
.PHONY: help system setup fmt lint typecheck test test-faults check up down status demo bench dashboards enums clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

system:  ## install every Debian package the project needs (as root; apt-get, services kept down)
	$(SYSTEM)

setup: $(STAMP) $(NODE_STAMP)  ## create .venv with iotrack and its dev tools, and the AsyncAPI parser

$(STAMP): pyproject.toml
	$(SYSTEM) --for setup
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

$(NODE_STAMP): $(ASYNCAPI)/package-lock.json
	$(SYSTEM) npm
	cd $(ASYNCAPI) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

fmt: $(STAMP)  ## format and auto-fix the code (the only target that edits files)
	$(BIN)/ruff format $(PACKAGES) tests bench deploy/grafana
	$(BIN)/ruff check --fix $(PACKAGES) tests bench deploy/grafana

lint: $(STAMP)  ## ruff (lint + format check) and the import-linter contracts
	$(NOWRITE) $(BIN)/ruff check --no-cache $(PACKAGES) tests bench deploy/grafana
	$(NOWRITE) $(BIN)/ruff format --no-cache --check $(PACKAGES) tests bench deploy/grafana
	$(NOWRITE) $(BIN)/lint-imports --no-cache

typecheck: $(STAMP)  ## mypy --strict on our packages and the dashboards generator
	$(NOWRITE) $(BIN)/mypy --cache-dir=/dev/null
	$(NOWRITE) $(BIN)/mypy --cache-dir=/dev/null deploy/grafana/dashboards.py

test: $(STAMP) $(NODE_STAMP)  ## every test but the fault tests; integration tests start their own Kafka and Postgres
	$(SYSTEM) --for test
	$(NOWRITE) $(BIN)/pytest -p no:cacheprovider -q

test-faults: $(STAMP)  ## the cluster fault tests: brokers of a 3-node cluster SIGKILLed under load (minutes)
	$(SYSTEM) --for demo
	$(NOWRITE) $(BIN)/pytest -p no:cacheprovider -q -m faults

check: lint typecheck test  ## lint + typecheck + test; writes nothing

up: $(STAMP)  ## start the local broker and database (see `iotrack up`)
	$(SYSTEM) --for demo
	$(BIN)/iotrack up

down: $(STAMP)  ## stop them
	$(BIN)/iotrack down

status: $(STAMP)  ## what runs, the topics, the database
	$(BIN)/iotrack status

demo: $(STAMP)  ## run the demonstration on the embedded default (DEMO_ARGS=--serve: keep it and its console up)
	$(SYSTEM) --for demo
	$(BIN)/iotrack demo $(DEMO_ARGS)

bench: $(STAMP)  ## run the benchmarks in bench/ and print their figures
	$(NOWRITE) $(BIN)/python -m bench

dashboards: $(STAMP)  ## regenerate the Grafana dashboards' JSON in deploy/grafana/dashboards/
	$(NOWRITE) $(BIN)/python deploy/grafana/dashboards.py

enums: $(STAMP)  ## regenerate streams/http/enums.py from the Avro enums in avro/
	$(NOWRITE) $(BIN)/python -m streams.http.avro_enums

clean:  ## remove the venv, caches and the local data folder
	rm -rf $(VENV) .iotrack .pytest_cache .mypy_cache .ruff_cache .hypothesis $(ASYNCAPI)/node_modules
