# Single entry point. `make demo` and `make test` bootstrap .venv from requirements.lock when it is
# missing or older than the lock file / pyproject.toml, then act.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lookalike-installed
COMPILED := $(VENV)/.lookalike-compiled
PYTEST_ARGS ?=

.PHONY: demo test test-all lint typecheck bench clean-venv help

help:
	@echo "make demo   - set up .venv and run the end-to-end demo (train, evaluate, gallery, report)"
	@echo "make test   - set up .venv and run the test suite (CPU, ~minutes)"
	@echo "make lint   - ruff;  make typecheck - mypy;  make bench - benchmarks/"

# --no-compile: pip would compile the bytecode of every installed file (torch's too), about a minute of the demo's
# 5; Python compiles what a run imports instead. The tests start many processes, so `make test` compiles the whole
# venv once, on every core (where PYTHONDONTWRITEBYTECODE is set, nothing else would keep the compiled files).
# Files that are not valid Python for this interpreter are skipped silently, as pip skips them.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

$(COMPILED): $(STAMP)
	-@$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib
	@touch $(COMPILED)

demo: $(STAMP)
	$(BIN)/lookalike demo

test: $(COMPILED)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: $(COMPILED)
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
