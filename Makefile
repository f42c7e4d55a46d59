# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := samples/canvas-live-events-sample.jsonl.gz

# Every install is constrained by the image's pins (requirements.txt) and the test-only pins
# (requirements-test.txt): what `make test` tests is what the Dockerfile ships.
CONSTRAINTS := -c requirements.txt -c requirements-test.txt

.PHONY: run test test-fast lint bench sample clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes; the install is editable, so code changes need none.
$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py requirements.txt requirements-test.txt
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[report]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[test]'
	$(BIN)/python -m pip check
	touch $@

run: $(VENV)/.installed
	$(BIN)/retry-lineage run --input '$(SAMPLE)' --output out/
	$(BIN)/retry-lineage report out/

# The report's browser test needs Chromium (Debian's package; CI runs as root).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium; }

# Format, lint and type check (ruff and mypy are pinned in requirements-test.txt; the rules
# are in pyproject.toml). `make test` runs this first.
lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# The whole suite (what CI runs): lint first, then every test.
test: lint browser
	$(BIN)/python -m pytest

# The edit loop: everything but the tests marked `slow` (whole pipelines, subprocesses).
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow"

bench: $(VENV)/.installed-test
	$(BIN)/python bench/benchmark.py

# Regenerates the committed sample (deterministic: same bytes every time).
sample: $(VENV)/.installed
	$(BIN)/retry-lineage generate --events 5000 --seed 20240730 --output $(SAMPLE)

clean:
	rm -rf out/ bench/work/ .pytest_cache .mypy_cache .ruff_cache
