# Two entry points (see README): `make demo` runs the embedded default, `make test` the tests
# (`make demo-audio`: the spoken-words story, which needs Debian's espeak-ng).
# Both create .venv and install hfft with the pinned test environment (constraints.txt) first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hfft-installed

.PHONY: demo demo-audio test lint install

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hfft demo

demo-audio: $(STAMP)
	sh scripts/ensure-debian-package.sh espeak-ng espeak-ng "the audio demo (test)"
	$(BIN)/hfft demo --task audio-classification

test: $(STAMP)
	$(BIN)/ruff check hfft tests space bench
	sh scripts/ensure-debian-package.sh chromium /usr/bin/chromium "the browser test"
	sh scripts/ensure-debian-package.sh espeak-ng espeak-ng "the audio demo (test)"
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check --fix hfft tests space bench
	$(BIN)/ruff format hfft tests space bench
