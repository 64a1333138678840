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

serve: setup
	$(BIN)/redline serve

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) redline-data .pytest_cache .mypy_cache .ruff_cache
