# One-command set-up: `make test` (tests) and `make reproduce` (CPU reproduction).
# Set-up is idempotent: the venv is rebuilt only when a requirements file or setup.py changes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tapps_mm_installed
PYTEST_ARGS ?=

.PHONY: install install-gpu test lint clean-venv bench-eval bench-model bench-threads reproduce reproduce-all rehearsal slurm

install: $(STAMP)

$(STAMP): setup.py requirements/build.txt requirements/mminstall.txt requirements/runtime.txt requirements/tests.txt \
          requirements/mmcv-ext-stub/pyproject.toml requirements/mmcv-ext-stub/mmcv/_ext.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -r requirements/build.txt
	# mmcv 2.1.0 without its compiled ops (mmcv-lite, pure Python) and a stand-in for its compiled extension
	# whose ops raise an error naming themselves when called: the CPU path calls none, and nothing is compiled
	# (make install-gpu builds the ops; docs/get_started.md)
	if $(BIN)/pip show -q mmcv 2>/dev/null; then echo "mmcv with its compiled ops is installed (make install-gpu): kept"; \
	else $(BIN)/pip install -r requirements/mminstall.txt ./requirements/mmcv-ext-stub; fi
	$(BIN)/pip install -r requirements/runtime.txt -r requirements/tests.txt
	$(BIN)/pip install --no-build-isolation --no-deps -e .
	touch $@

# GPU machines: mmcv 2.1.0 built with its CUDA ops against the torch in $(VENV) (install a CUDA torch first:
# docs/get_started.md); replaces mmcv-lite and its stand-in extension. Needs nvcc of torch's CUDA version.
MMCV_CUDA_ARCH ?=
install-gpu: $(STAMP)
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.version.cuda else 'install-gpu: the torch in $(VENV) has no CUDA (docs/get_started.md)')"
	$(BIN)/pip uninstall -y mmcv-lite tapps-mm-mmcv-ext-stub
	FORCE_CUDA=1 MMCV_WITH_OPS=1 $(if $(MMCV_CUDA_ARCH),TORCH_CUDA_ARCH_LIST="$(MMCV_CUDA_ARCH)") \
	  $(BIN)/pip install --no-build-isolation --no-binary mmcv mmcv==2.1.0
	$(BIN)/python -c "import mmcv._ext as e; assert getattr(e, 'COMPILED', True), e.__file__; print('mmcv compiled ops:', e.__file__)"

test: $(STAMP) slurm
	$(BIN)/python -m pytest tests -n 2 -q -ra $(PYTEST_ARGS)

# A real single-node Slurm for tests/test_tools/test_launch.py (started there on localhost; no service is set up).
# Installed only when missing, as root, with apt-get; elsewhere that test is skipped and says why.
SLURM_PKGS := slurmctld slurmd slurm-client munge
SLURM_BINS := slurmctld slurmd munged srun sbatch scontrol sinfo
slurm:
	@missing=""; for b in $(SLURM_BINS); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then echo "slurm: installed ($$(slurmctld -V))"; \
	elif [ "$$(id -u)" != 0 ]; then echo "slurm: not installed, not root (missing:$$missing; as root: apt-get install $(SLURM_PKGS))"; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "slurm: not installed, no apt-get (missing:$$missing)"; \
	else echo "slurm: installing $(SLURM_PKGS) (missing:$$missing)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SLURM_PKGS); } \
	  || echo "slurm: install failed; the Slurm launch test will be skipped"; fi

lint: $(STAMP)
	$(BIN)/ruff check tapps_mm tools benchmarks tests configs

clean-venv:
	rm -rf $(VENV)

# The speed benchmarks (tools/analysis_tools/speed/): each writes its JSON into benchmarks/results/, which
# tools/reproduce_tables.py --update-readme renders into docs/benchmarks.md.

# Side-by-side: our PartPQ evaluator vs the official panoptic_parts one on Cityscapes-sized files.
bench-eval: $(STAMP)
	$(BIN)/python tools/analysis_tools/speed/bench_evaluator.py --num-images 10 --size 1024x2048 --nproc 2 --out benchmarks/results/evaluator.json

# Side-by-side: mmdet's plain Mask2Former vs TAPPS vs the baseline (same size), at toy scale and at the
# paper's Cityscapes-PP crop (CPU, interleaved repeats, about 10 min on 2 cores): training step, peak memory,
# inference, ratios with their spread. The GPU counterpart: tools/analysis_tools/speed/gpu_check.sh (see its header).
bench-model: $(STAMP)
	$(BIN)/python tools/analysis_tools/speed/bench_model_cost.py --out benchmarks/results/model_cost.json

# The CPU reproduction (toy scale): the synthetic dataset if missing, the toy TAPPS and baseline runs with
# their seeds (benchmarks/toy.py), tables, plots and the paired comparison (tools/reproduce_tables.py).
# Idempotent: complete runs are skipped, killed ones resumed. REPRODUCE_ARGS=--quick: the smoke version.
REPRODUCE_ARGS ?=
reproduce: $(STAMP)
	$(BIN)/python tools/reproduce_tables.py $(REPRODUCE_ARGS)

# The whole toy paper: Tables 1, 3, 4, 5 and 7 at toy scale (40 runs; the runs of `reproduce` are reused).
reproduce-all: $(STAMP)
	$(BIN)/python tools/reproduce_tables.py --tables all $(REPRODUCE_ARGS)

# The paper-scale rehearsal: every paper config (Tables 1-7) trains a few iterations on this CPU on fake data at
# the real image sizes, is tested with tools/test.py and collected into the tables marked as a rehearsal, never as
# a number (benchmarks/rehearsal.py; record: benchmarks/results/rehearsal.json). Stopped, it continues where it
# stopped. REHEARSAL_ARGS=--small: the version `make test` runs (one Cityscapes-PP and one Pascal-PP config).
REHEARSAL_ARGS ?=
rehearsal: $(STAMP)
	$(BIN)/python tools/rehearse.py $(REHEARSAL_ARGS)

# How the main job uses the cores: one 2-thread run vs two 1-thread runs, idle and beside a busy core.
bench-threads: $(STAMP)
	$(BIN)/python tools/analysis_tools/speed/bench_threads.py --out benchmarks/results/threads.json
