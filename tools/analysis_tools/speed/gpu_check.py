"""The Python half of ``gpu_check.sh`` (this folder): TAPPS vs plain Mask2Former vs the baseline at the paper's
Pascal-PP training setting (R-50, 1024x1024 crop, batch 2, AMP) and our PartPQ evaluator's throughput,
written as one JSON (``benchmarks.speed_report.render_gpu_check`` renders it where the documents are
written; nothing is rendered on the GPU machine, which lacks pandas).

    python tools/analysis_tools/speed/gpu_check.py --out gpu_check.json            # on a GPU
    python tools/analysis_tools/speed/gpu_check.py --self-check --out check.json   # the same on CPU, tiny sizes

Without mmcv's compiled ops (the default of ``gpu_check.sh``, see its header) a stand-in ``mmcv._ext``
lets ``mmcv.ops`` import, any compiled op that is called raises, and ``MultiScaleDeformableAttention``
takes mmcv's own PyTorch path on GPU too (the path it takes on CPU). ``--self-check`` always runs that
way, which shows on CPU that the three models call no compiled mmcv op.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

from mmcv_without_ops import has_compiled_mmcv_ops, use_mmcv_without_compiled_ops

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.abspath(osp.join(HERE, osp.pardir, osp.pardir, osp.pardir))
# benchmarks/ (the machine's description) is not installed: it and tapps_mm are imported from the checkout this
# script belongs to (docs/architecture.md, "The results pipeline")
sys.path.insert(0, ROOT)

from benchmarks import machine_info  # noqa: E402

NO_OPS = 'none (mmcv without compiled ops: PyTorch MultiScaleDeformableAttention)'
# the paper's Pascal-PP training setting at batch 2 on one GPU (the paper: 16 on 4 GPUs)
GPU_SCALE = dict(config='configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py',
                 baseline_config='configs/baseline/baseline_r50_4xb4-60k_pascal-pp.py',
                 dataset='pascal', size='1024x1024', batch=2, iters=10, warmup=3, repeats=5,
                 device='cuda', amp=True, threads=0, cfg_options=[])
SELF_CHECK_SCALE = dict(GPU_SCALE, size='128x128', iters=1, warmup=1, repeats=1, device='cpu', amp=False,
                        threads=1)


def run_evaluator(self_check: bool) -> dict:
    """``bench_evaluator.py`` (official vs ours on Cityscapes-sized files, then 1 vs N processes)."""
    nproc = 2 if self_check else min(16, os.cpu_count() or 1)
    size, per_process = ('128x256', '1') if self_check else ('1024x2048', '16')
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'evaluator.json')
        subprocess.run([sys.executable, osp.join(HERE, 'bench_evaluator.py'), '--num-images', '5', '--size', size,
                        '--nproc', str(nproc), '--images-per-process', per_process, '--part-noise', '0',
                        '--out', out], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def finite_or_none(obj, path: str = '') -> object:
    """``obj`` with every non-finite float replaced by None (JSON null), each one reported: a NaN training loss
    under AMP is a finding to keep, not a reason to lose the measurements."""
    if isinstance(obj, dict):
        return {k: finite_or_none(v, f'{path}.{k}') for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v, f'{path}[{i}]') for i, v in enumerate(obj)]
    if isinstance(obj, float) and not math.isfinite(obj):
        print(f'gpu_check: {path.lstrip(".")} is {obj}: written as null', flush=True)
        return None
    return obj


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--self-check', action='store_true', help='CPU, tiny sizes, no compiled mmcv ops')
    p.add_argument('--skip-evaluator', action='store_true')
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    compiled = has_compiled_mmcv_ops() and not args.self_check
    if not compiled:
        os.environ['TAPPS_BENCH_MMCV_OPS'] = 'none'  # read by the benchmark's worker processes
        use_mmcv_without_compiled_ops()
    import torch
    from model_cost_blocks import MODELS, host_info, measure_scale

    from tapps_mm.fileio import write_json_atomic
    if not args.self_check and not torch.cuda.is_available():
        raise SystemExit('gpu_check: torch sees no GPU (use --self-check for the CPU dry run)')
    scale = SELF_CHECK_SCALE if args.self_check else GPU_SCALE
    print(f'gpu_check: {machine_info()["machine"]}, mmcv ops: {"compiled" if compiled else NO_OPS}', flush=True)
    model_cost = dict(command='tools/analysis_tools/speed/gpu_check.sh' + (' --self-check' if args.self_check else ''),
                      host=host_info(), scales={'paper-gpu': measure_scale(dict(scale), list(MODELS))})
    ratios = model_cost['scales']['paper-gpu']['ratios']['tapps/mask2former']
    model_cost['ratio'] = {k: (v['median'] if isinstance(v, dict) else v) for k, v in ratios.items()}
    out = dict(self_check=args.self_check, device=machine_info(), mmcv_ops='compiled' if compiled else NO_OPS,
               model_cost=model_cost)
    if not args.skip_evaluator:
        print('gpu_check: PartPQ evaluator', flush=True)
        out['evaluator'] = run_evaluator(args.self_check)
    out['wall_s'] = time.perf_counter() - t0
    out = finite_or_none(out)
    write_json_atomic(out, args.out)
    ratio = ', '.join(f'{k} {v:.2f}x' for k, v in model_cost['ratio'].items() if v is not None)
    print(f'gpu_check: {args.out} written (TAPPS / Mask2Former: {ratio}); '
          'python tools/reproduce_tables.py --update-readme renders it')
    return out


if __name__ == '__main__':
    main()
