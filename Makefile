# Somo: the two commands are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint bench fuzz install clean i18n-extract i18n-update i18n-compile

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/somo demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench.flow

fuzz: $(STAMP)
	SOMO_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -m "not browser" tests -k "fuzz or property"

i18n-extract: $(STAMP)
	$(BIN)/python -m locales extract

i18n-update: $(STAMP)
	$(BIN)/python -m locales update

i18n-compile: $(STAMP)
	$(BIN)/python -m locales compile

clean:
	rm -rf $(VENV) .somo-data
