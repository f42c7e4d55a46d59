# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := samples/canvas-live-events-sample.jsonl.gz

# Every install is constrained by the image's pins (requirements.txt) and the test-only pins
# (requirements-test.txt): what `make test` tests is what the Dockerfile ships.
CONSTRAINTS := -c requirements.txt -c requirements-test.txt

.PHONY: run test test-fast lint bench bench-gcp bench-scale sample clean browser

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

# The benchmark times the pipeline in its own venvs, so that what is timed is known whatever
# `make test` added to .venv: .venv-bench is exactly what `make run` installs (it also runs DuckDB),
# .venv-gcp adds Beam's GCP clients (the `gcp` extra). Override GCP_VENV to reuse another one.
BENCH_VENV := .venv-bench
GCP_VENV ?= .venv-gcp

$(BENCH_VENV)/.installed: pyproject.toml setup.py requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet $(CONSTRAINTS) -e '.[report]'
	touch $@

$(GCP_VENV)/.installed: pyproject.toml setup.py requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(GCP_VENV)
	$(GCP_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GCP_VENV)/bin/python -m pip install --quiet $(CONSTRAINTS) -e '.[gcp]'
	$(GCP_VENV)/bin/python -m pip check
	touch $@

# Targets (medians of 3 alternating runs, 1,000,000 events): ratio pipeline/DuckDB <= 2.0 here,
# <= 2.3 with the gcp extra; peak RSS <= 1,536 MB. bench-scale adds the feed scaled to
# 10,000,000 events (generated once into bench/work/: about 20 min and 13.5 GB), timed once:
# wall <= 10.5x the 1,000,000-event wall, peak RSS <= 1,536 MB.
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/benchmark.py

bench-gcp: $(BENCH_VENV)/.installed $(GCP_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/benchmark.py --python $(GCP_VENV)/bin/python

bench-scale: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/benchmark.py --scale

# Regenerates the committed sample (deterministic: same bytes every time).
sample: $(VENV)/.installed
	$(BIN)/retry-lineage generate --events 5000 --seed 20240730 --output $(SAMPLE)

clean:
	rm -rf out/ bench/work/ .pytest_cache .mypy_cache .ruff_cache
