# Two commands do all the set-up (see README.md):
#   make demo   create .venv, install pinned dependencies, run the whole workflow on the demo cohort
#   make test   create .venv, install pinned dependencies and the test tools, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
# torch is installed by version only: pip takes a CPU build where one is provided locally and
# PyPI's CUDA build on a GPU workstation.
TORCH := torch==2.13.0

.PHONY: demo test lint install lock clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH)" -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

demo: install
	$(BIN)/snakemake --cores $(CORES)

test: install lint
	$(BIN)/python -m pytest -q

# Formatting and lint (run by `make test`): ruff for Python, snakefmt and Snakemake's own linter for the rules.
lint: install
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --quiet

# Regenerate requirements.lock from the current environment (maintainers only).
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(torch|neuropeft)[= @]' > requirements.lock

clean:
	rm -rf results .snakemake
