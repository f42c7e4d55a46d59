# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := samples/canvas-live-events-sample.jsonl.gz

.PHONY: run test bench sample clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes; the install is editable, so code changes need none.
$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet -e '.[report]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/retry-lineage run --input '$(SAMPLE)' --output out/
	$(BIN)/retry-lineage report out/

# The report's browser test needs Chromium (Debian's package; CI runs as root).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium; }

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test
	$(BIN)/python bench/benchmark.py

# Regenerates the committed sample (deterministic: same bytes every time).
sample: $(VENV)/.installed
	$(BIN)/retry-lineage generate --events 5000 --seed 20240730 --output $(SAMPLE)

clean:
	rm -rf out/ bench/work/ .pytest_cache
