# One-command set-up: `make test` (tests) and `make reproduce` (CPU reproduction).
# Set-up is idempotent: the venv is rebuilt only when a requirements file or setup.py changes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tapps_mm_installed
PYTEST_ARGS ?=

.PHONY: install test lint clean-venv bench-eval

install: $(STAMP)

$(STAMP): setup.py requirements/build.txt requirements/runtime.txt requirements/tests.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -r requirements/build.txt
	# mmcv 2.1.0 has no wheel for torch 2.13: it is compiled here with its ops (8-11 min the first
	# time on 2 cores; pip caches the wheel, so later set-ups take seconds).
	$(BIN)/pip install --no-build-isolation mmcv==2.1.0
	$(BIN)/pip install -r requirements/runtime.txt -r requirements/tests.txt
	$(BIN)/pip install --no-build-isolation --no-deps -e .
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest tests -n 2 -q -ra $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tapps_mm tools benchmarks tests

clean-venv:
	rm -rf $(VENV)

# Side-by-side: our PartPQ evaluator vs the official panoptic_parts one on Cityscapes-sized files.
bench-eval: $(STAMP)
	$(BIN)/python benchmarks/bench_evaluator.py --num-images 10 --size 1024x2048 --nproc 2
