# The two commands of the README, and a few helpers. Everything runs from a project-local virtual
# environment (.venv), created on first use from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test setup setup-test lint dev bench clean

# dagster-dbt asks for sqlglot[rs], which brings sqlglot's compiled build (sqlglotc) and a Rust
# tokenizer this sqlglot no longer uses (it warns at every import). Splink's Spark backend subclasses
# sqlglot's dialect classes, which the compiled build refuses ("interpreted classes cannot inherit from
# compiled"); without the two the same sqlglot runs as plain Python.
UNCOMPILED_SQLGLOT = $(BIN)/python -m pip uninstall --quiet --yes sqlglotc sqlglotrs

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(UNCOMPILED_SQLGLOT)
	touch $@

# The tests also build the models on Spark (tests/test_engine_spark.py): pyspark and dbt-spark.
$(BIN)/.installed-spark: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	$(UNCOMPILED_SQLGLOT)
	touch $@

# The dashboard tests open its pages in Debian's Chromium, driven by Playwright (no browser download).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(BIN)/.installed-browser: $(BIN)/.installed-spark
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1) || \
	  echo "Chromium could not be installed (apt-get install chromium): the dashboard's browser tests will skip, and fail under CI=true"
	touch $@

setup: $(BIN)/.installed

setup-test: $(BIN)/.installed-browser

## Set up and run the whole pipeline on the bundled sample (seeds/landing).
run: setup
	$(BIN)/cdp run
	@echo
	@echo "Open the lineage graph and this run:  $(BIN)/cdp dev   (then http://127.0.0.1:3000)"

## Set up and run the tests (what .ci/run does).
test: setup-test
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .

dev: setup
	$(BIN)/cdp dev

## Benchmarks at 10k, 100k and 1M people (long; prints a table).
bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf warehouse dbt_project/target dbt_project/logs
