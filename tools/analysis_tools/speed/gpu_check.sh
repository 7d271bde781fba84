#!/usr/bin/env bash
# GPU check: TAPPS vs mmdet's plain Mask2Former vs the separate-part-queries baseline at the paper's
# Pascal-PP setting (R-50, 1024x1024 crop, batch 2, AMP): training step, peak memory, inference; and our
# PartPQ evaluator's throughput (bench_evaluator.py). One JSON; about 4-6 minutes on one GPU. It runs in
# the repository's root (paths below, --out too, are relative to it):
#
#   tools/analysis_tools/speed/gpu_check.sh --prepare      # here, with package-registry access:
#                                                          # fill .gpu_wheels/
#   tools/analysis_tools/speed/gpu_check.sh [--out FILE]   # on the GPU machine
#                                                          # (default benchmarks/results/gpu_check.json)
#   tools/analysis_tools/speed/gpu_check.sh --self-check   # here: the same Python on CPU, tiny sizes, no
#                                                          # compiled mmcv ops (work_dirs/gpu_check_selfcheck.json)
#
# The GPU machine is assumed to have python3 with a CUDA PyTorch and the scientific stack (numpy, scipy,
# opencv-python-headless, matplotlib, pillow, pyyaml, rich, scikit-learn, tqdm, six) but no OpenMMLab
# package and no registry access. --prepare downloads what is missing, pinned to the versions this
# project is tested with, into .gpu_wheels/ (git-ignored, a few MB): pure-Python wheels, binary wheels of
# shapely and pycocotools for GPU_PYTHON_VERSION (default 3.12), the mmcv 2.1.0 sdist, and an mmcv
# wheel built from it without compiled ops (MMCV_WITH_OPS=0, pure Python). The run installs them with
# `pip install --no-index --no-deps --target .gpu_site` (git-ignored) and puts that on PYTHONPATH.
#
# mmcv's compiled ops: not built by default. The three models call only two mmcv ops: point_sample
# (pure PyTorch, F.grid_sample) and MultiScaleDeformableAttention, which has mmcv's own PyTorch
# implementation (multi_scale_deformable_attn_pytorch, its CPU path); gpu_check.py gives
# mmcv.ops a stand-in for the missing extension (any compiled op that is called raises) and routes that
# attention to the PyTorch path on GPU too. `--self-check` runs exactly this on CPU, which shows that no
# compiled op is called. Why not build them: mmcv 2.1.0 compiles ~100 C++/CUDA files; even for one
# architecture (TORCH_CUDA_ARCH_LIST=9.0) and MAX_JOBS=16 that is several minutes of the 10, and it has
# never been built against CUDA 13 / torch 2.11 here (a compile error would leave no measurement). The
# price: the pixel decoder's deformable attention runs as PyTorch ops (slower, more memory) in all three
# models alike, so absolute times are pessimistic and the ratios are slightly closer to 1. For the CUDA
# kernel set GPU_CHECK_MMCV_OPS=cuda (builds the sdist with FORCE_CUDA=1 MMCV_WITH_OPS=1; untested).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
HERE=tools/analysis_tools/speed

WHEELS=.gpu_wheels
SITE=.gpu_site
OUT_FILE=benchmarks/results/gpu_check.json
MODE=run
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) MODE=prepare ;;
    --self-check) MODE=self-check; OUT_FILE=work_dirs/gpu_check_selfcheck.json ;;
    --out) OUT_FILE=${2:?--out needs a file}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$HERE/gpu_check.sh" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
say() { echo "gpu_check.sh: $*" >&2; }

# versions of the tested environment (requirements/runtime.txt pins the OpenMMLab stack)
PURE=(mmengine==0.10.7 mmdet==3.3.0 panoptic-parts==2.0rc6 addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9
      termcolor==3.3.0 terminaltables==3.1.10 ruamel.yaml==0.19.1)
BINARY=(shapely==2.2.0 pycocotools==2.0.11)

if [ "$MODE" = prepare ]; then
  PY=${PYTHON:-.venv/bin/python}
  PYVER=${GPU_PYTHON_VERSION:-3.12}
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  say "downloading pure-Python wheels"
  "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "${PURE[@]}"
  say "downloading binary wheels for CPython $PYVER (manylinux x86_64)"
  plats=()
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
           manylinux2014_x86_64 manylinux1_x86_64; do plats+=(--platform "$p"); done
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    "${plats[@]}" -d "$WHEELS" "${BINARY[@]}"
  say "downloading the mmcv 2.1.0 sdist and building its wheel without compiled ops"
  "$PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d "$WHEELS" mmcv==2.1.0
  MMCV_WITH_OPS=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" "$WHEELS"/mmcv-2.1.0.tar.gz
  ls "$WHEELS"/mmcv_lite-2.1.0-py*-none-any.whl >/dev/null || { say "the mmcv wheel is not pure Python"; exit 1; }
  du -sh "$WHEELS" >&2
  say "done: carry $WHEELS/ to the GPU machine with the repository and run $HERE/gpu_check.sh there"
  exit 0
fi

mkdir -p "$(dirname "$OUT_FILE")"
if [ "$MODE" = self-check ]; then
  PY=${PYTHON:-.venv/bin/python}
  [ -x "$PY" ] || PY=python3
  say "self-check on CPU with $PY (tiny sizes, mmcv without compiled ops)"
  PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} "$PY" $HERE/gpu_check.py --self-check --out "$OUT_FILE"
  say "wrote $OUT_FILE"
  exit 0
fi

PY=${PYTHON:-python3}
for w in mmengine-0.10.7 mmdet-3.3.0 mmcv_lite-2.1.0-py panoptic_parts-2.0rc6 shapely-2.2.0 pycocotools-2.0.11; do
  ls "$WHEELS"/"$w"*.whl >/dev/null 2>&1 || {
    say "missing $WHEELS/$w*.whl: run '$HERE/gpu_check.sh --prepare' where PyPI is reachable and carry $WHEELS/"
    exit 1; }
done
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || { say "$PY has no CUDA PyTorch that sees a GPU"; exit 1; }
say "installing $WHEELS/*.whl into $SITE ($("$PY" --version))"
rm -rf "$SITE"
"$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$SITE" "$WHEELS"/*.whl
SITE_PATH=$PWD/$SITE
if [ "${GPU_CHECK_MMCV_OPS:-none}" = cuda ]; then
  say "building mmcv 2.1.0 with CUDA ops (sm_90, $(nproc) jobs): several minutes"
  FORCE_CUDA=1 MMCV_WITH_OPS=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=$(nproc) \
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --target "$SITE/cuda" \
    "$WHEELS"/mmcv-2.1.0.tar.gz
  SITE_PATH=$PWD/$SITE/cuda:$SITE_PATH
fi
export PYTHONPATH=$SITE_PATH:$PWD${PYTHONPATH:+:$PYTHONPATH}
say "running $HERE/gpu_check.py"
PYTHONUNBUFFERED=1 "$PY" $HERE/gpu_check.py --out "$OUT_FILE"
say "wrote $OUT_FILE"
