# The README's two commands: `make reports` and `make test`. Both create .venv when it is missing.
# Versions tested together are pinned in constraints.txt, so every machine installs the same set.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
CONSTRAINTS := constraints.txt
PARAMS ?= params/batch.yaml
# One BLAS thread per process: the batch runs notebooks in parallel on 2 cores, and a fixed thread count
# keeps floating-point summation order, hence the evidence files, identical from run to run.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: help reports test lint typecheck unit nbval setup setup-test browser refresh-notebooks benchmark clean constraints

help:
	@echo "make reports   - set up .venv and render every report from the embedded default data"
	@echo "make test      - set up .venv with the test extras and run lint, type checks and every test"
	@echo "make refresh-notebooks - re-run the committed notebooks so their outputs are current"
	@echo "make nbval     - check the committed notebooks' outputs as a reviewer does"
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
	$(BIN)/ruff check ipf_eval tests benchmarks notebooks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy
	$(BIN)/mypy --no-namespace-packages notebooks/*.py

unit: $(VENV)/.installed-test browser
	$(BIN)/pytest

# The committed notebooks, checked as reviewers do (strict: every text output must match).
nbval: $(VENV)/.installed-test
	$(BIN)/pytest --nbval notebooks/ --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

test: lint typecheck unit nbval

# Debian's chromium for the browser test of the rendered reports; where it cannot be installed the test
# says so and skips (under CI=true it fails instead).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will skip"; \
	    else echo "no chromium and no root apt-get: the browser test will skip"; fi; }

# Sync each notebook pair (notebooks/NAME.py is the source, NAME.ipynb its executed view) and re-run it,
# after the batch whose evidence the country report and the synthesis read.
refresh-notebooks: $(VENV)/.installed
	$(BIN)/ipf-eval refresh-notebooks

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/did_benchmark.py
	$(BIN)/python benchmarks/pipeline_benchmark.py --params $(PARAMS) --modes warm,fresh

# Regenerate the lock of versions tested together (run after changing dependencies, then commit it).
constraints: $(VENV)/.installed-test
	$(PIP) freeze --exclude-editable | grep -v '^ipf-eval' > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
