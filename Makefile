# indexflow — two commands do all the set-up on a fresh machine:
#   make demo   virtual env + install, ingest the sample corpus, run two searches
#   make test   install test dependencies (incl. the pgvector extension and Debian's chromium) and run
#               the whole suite

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
DEMO_HOME ?= .indexflow-demo

.PHONY: install demo test test-unit test-embedded test-integration test-e2e test-faults test-adversarial lint bench services pgvector chromium clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the CPU build: anything that depends on torch then finds it installed.
	$(PIP) install -q $(WHEELS) "torch==2.13.0"
	$(PIP) install -q $(WHEELS) -e ".[test,bench]"
	rm -f $(VENV)/.installed-*; touch $(STAMP)

# Bytecode for the editable sources, so that every command starts without compiling them (where
# PYTHONDONTWRITEBYTECODE is set, Python would never cache it itself); quick when up to date.
install: $(STAMP)
	$(PY) -m compileall -q src > /dev/null

demo: install
	rm -rf $(DEMO_HOME)
	INDEXFLOW_HOME=$(DEMO_HOME) $(VENV)/bin/indexflow ingest samples/ --dataset demo
	INDEXFLOW_HOME=$(DEMO_HOME) $(VENV)/bin/indexflow search "how do I rebuild a city after an earthquake?" --dataset demo -k 3
	INDEXFLOW_HOME=$(DEMO_HOME) $(VENV)/bin/indexflow search "why do my tomatoes split or get dark sunken patches?" --dataset demo -k 3

services:
	bash scripts/ensure_services.sh

pgvector:
	bash scripts/install_pgvector.sh

# Debian's chromium for the dashboard's browser tests (tests/e2e/test_dashboard.py)
chromium:
	bash scripts/install_chromium.sh

test: install services pgvector chromium
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/mypy tests
	$(PY) -m pytest -q -p no:cacheprovider

# The tiers, one by one (each installs what it needs).
test-unit: install
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

test-embedded: install
	$(PY) -m pytest -q -p no:cacheprovider tests/embedded

test-integration: install services pgvector
	$(PY) -m pytest -q -p no:cacheprovider tests/contract tests/integration

test-e2e: install services pgvector chromium
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e

test-faults: install pgvector
	$(PY) -m pytest -q -p no:cacheprovider tests/faults

test-adversarial: install
	$(PY) -m pytest -q -p no:cacheprovider tests/adversarial

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/mypy tests

bench: install
	$(PY) bench/chunking.py
	$(PY) bench/ingest.py
	$(PY) bench/retrieval.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .indexflow .pytest_cache
