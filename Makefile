# tsbot: the two commands a newcomer needs are `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The tests also cover the FinBERT adapter, so they install its optional extra (CPU torch) as well.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,finbert]"
	touch $@ $(VENV)/.installed

## run: install into .venv, load the bundled real data, and print the signals for every bundled series
run: $(VENV)/.installed
	$(BIN)/tsbot data import
	$(BIN)/tsbot scan

## test: install the development dependencies and run the whole test suite (what CI runs)
# Two processes (pytest-xdist), one test file each at a time: the suite fits CI's 15 minutes on a 2-core machine.
test: $(VENV)/.installed-dev
	sh scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile

## test-fast: the suite without the slow, heavy checks
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/lint-imports

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,finbert,bench]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/ml_inference.py
	$(BIN)/python bench/backtest_peers.py
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/cycle.py

clean:
	rm -rf $(VENV) var .pytest_cache
