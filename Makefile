# The README's two commands: `make reports` and `make test`. Both create .venv when it is missing.
# Versions tested together are pinned in constraints.txt, so every machine installs the same set.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
CONSTRAINTS := constraints.txt
PARAMS ?= params/batch.yaml

.PHONY: help reports test lint typecheck unit nbval setup setup-test browser refresh-notebooks benchmark clean constraints

help:
	@echo "make reports   - set up .venv and render every report from the embedded default data"
	@echo "make test      - set up .venv with the test extras and run lint, type checks and every test"
	@echo "make refresh-notebooks - re-run the committed notebooks so their outputs are current"
	@echo "make benchmark - time the estimators against their peers (installs peers into .venv-bench)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ipf_eval needs Python 3.11 or newer: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet -c $(CONSTRAINTS) -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[test]'
	@touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

reports: $(VENV)/.installed
	$(BIN)/ipf-eval render --params $(PARAMS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check ipf_eval tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest

test: lint typecheck unit

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/did_benchmark.py

# Regenerate the lock of versions tested together (run after changing dependencies, then commit it).
constraints: $(VENV)/.installed-test
	$(PIP) freeze --exclude-editable | grep -v '^ipf-eval' > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
