# Two entry points (see README): `make demo` runs the embedded default, `make test` the tests.
# Both create .venv and install hfft with the pinned test environment (constraints.txt) first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hfft-installed

.PHONY: demo test lint install

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hfft demo

test: $(STAMP)
	$(BIN)/ruff check hfft tests space bench
	sh scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check --fix hfft tests space bench
	$(BIN)/ruff format hfft tests space bench
