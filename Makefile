# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := samples/canvas-live-events-sample.jsonl.gz

.PHONY: run test bench sample clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes; the install is editable, so code changes need none.
$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/retry-lineage run --input '$(SAMPLE)' --output out/

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test
	$(BIN)/python bench/benchmark.py

# Regenerates the committed sample (deterministic: same bytes every time).
sample: $(VENV)/.installed
	$(BIN)/retry-lineage generate --events 5000 --seed 20240730 --output $(SAMPLE)

clean:
	rm -rf out/ bench/work/ .pytest_cache
