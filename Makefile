# `make serve` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup serve test lint bench clean

$(BIN)/redline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/redline

setup: $(BIN)/redline

# the browser SDKs that tests/browser loads into headless Chromium, at the
# versions package-lock.json pins (npm is needed for the tests only)
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund

serve: setup
	$(BIN)/redline serve

test: setup node_modules/.package-lock.json
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) redline-data .pytest_cache .mypy_cache .ruff_cache node_modules
