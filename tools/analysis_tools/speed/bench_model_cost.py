"""Cost of mmdet's plain Mask2Former, TAPPS and the separate-part-queries baseline, side by side.

    python tools/analysis_tools/speed/bench_model_cost.py --out benchmarks/results/model_cost.json  # toy + paper crop
    python tools/analysis_tools/speed/bench_model_cost.py --scales toy --repeats 5
    python tools/analysis_tools/speed/bench_model_cost.py --counts-only --out benchmarks/results/model_cost.json
    python tools/analysis_tools/speed/bench_model_cost.py --config configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py \
        --baseline-config configs/baseline/baseline_r50_4xb4-60k_pascal-pp.py --dataset pascal \
        --size 1024x1024 --batch 2 --device cuda --amp

The three models (``model_cost_models``) see the same batches of a small dataset in the official formats,
written to a temporary folder at the scale's size (``model_cost_data``). Each model lives in its own worker
process (``model_cost_worker``: a clean peak memory) that is asked for one block of ``--iters`` training
iterations at a time, in turn, ``--repeats`` times (``model_cost_blocks``); the ratios are taken block by
block and reported as median with min / max and quartiles. Inference = one ``predict`` batch. Workers run
``--threads`` intra-op threads each (default 1: on a loaded 2-core machine two threads per process
oversubscribe the cores and small kernels slow down by up to 10x); the JSON records the layout.

Then the counts (``model_cost_counts``, without timing: they hold on a loaded machine and say what a GPU
would be given): the top-level ATen ops and host-device synchronisation points of one training step (after
one warm-up step) and one inference batch per model, and of our own Mask2Former (``mask2former_pps``: what the
part branches add to our object head; every query kept by the fusion heads: a random model keeps none at the
configs' threshold), from ``torch.profiler`` on CPU, at :data:`COUNTS` (the Pascal-PP R-50
configs, 256x256, batch 2). ``--counts-only`` measures only them (a few minutes) and, with
``--out``, replaces the ``counts`` part of that file and keeps its timings; ``--no-counts`` skips them.

``--out`` writes JSON (``benchmarks.speed_report.render_model_cost`` turns it into Markdown, printed here
too); ``ratio.train_step_s`` / ``ratio.train_peak_mb`` / ``ratio.infer_batch_s`` are TAPPS / Mask2Former of
the first scale; ``counts`` holds the counts per model and ``counts.added`` the differences to Mask2Former.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

# benchmarks/ (the toy benchmark's settings, the report) is not installed: it and tapps_mm are imported from
# the checkout this script belongs to (docs/architecture.md, "The results pipeline")
ROOT = osp.abspath(osp.join(osp.dirname(__file__), osp.pardir, osp.pardir, osp.pardir))
sys.path.insert(0, ROOT)

from model_cost_blocks import MODELS, host_info, measure_counts, measure_scale  # noqa: E402
from model_cost_data import DATASETS  # noqa: E402

from benchmarks.speed_report import render_model_cost  # noqa: E402
from benchmarks.toy import TOY  # noqa: E402

# name -> what a scale measures; --size / --batch / ... override a field for every scale. The toy scale is
# the toy benchmark of benchmarks/toy.py (its configs and data generator options); batch None: the
# config's training batch size.
SCALES = {
    'toy': dict(config=TOY.configs['tapps'], baseline_config=TOY.configs['baseline'], dataset='synthetic',
                size='{}x{}'.format(*TOY.data_args['size']), batch=None, iters=4, warmup=3, repeats=9,
                data_options={k: TOY.data_args[k] for k in ('object_scale', 'twin_parts')}),
    'paper': dict(config='configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py',
                  baseline_config='configs/baseline/baseline_r50_4xb4-90k_cityscapes-pp.py',
                  dataset='cityscapes', size='512x1024', batch=1, iters=1, warmup=1, repeats=3),
}
OVERRIDES = ('dataset', 'size', 'batch', 'iters', 'warmup', 'repeats')  # flags that override a scale
# what the op and synchronisation counts measure: the GPU check's configs and data (Pascal-PP R-50) at a size
# a CPU runs in minutes; the counts do not depend on the image size as long as every kind of target occurs
COUNTS = dict(config='configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py',
              baseline_config='configs/baseline/baseline_r50_4xb4-60k_pascal-pp.py',
              mask2former_config='configs/mask2former/mask2former_r50_4xb4-60k_pascal-pp.py', dataset='pascal',
              size='256x256', batch=2, warmup=1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--scales', default='toy,paper', help=f'comma-separated, of {sorted(SCALES)}')
    p.add_argument('--config', help='TAPPS config (a custom scale named "custom" replaces --scales)')
    p.add_argument('--baseline-config', help='baseline config of the custom scale (none: no baseline)')
    p.add_argument('--dataset', choices=sorted(DATASETS), help="data the batches come from (the config's classes)")
    p.add_argument('--size', help='HxW of the images (and the train crop)')
    p.add_argument('--batch', type=int)
    p.add_argument('--iters', type=int, help='timed training iterations per block')
    p.add_argument('--warmup', type=int, help='untimed training iterations before the first block')
    p.add_argument('--repeats', type=int, help='blocks per model (interleaved)')
    p.add_argument('--models', default=','.join(MODELS))
    p.add_argument('--threads', type=int, default=1, help='torch intra-op threads per worker (0: torch default)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true', help='autocast fp16 + GradScaler (GPU)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='overrides of every model config, e.g. model.train_cfg.num_points=1024')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='write the measurements as JSON')
    counts = p.add_mutually_exclusive_group()
    counts.add_argument('--counts-only', action='store_true',
                        help='only the op and synchronisation counts (with --out: replace them in that file)')
    counts.add_argument('--no-counts', action='store_true', help='no op and synchronisation counts')
    p.add_argument('--counts-size', default=COUNTS['size'], help='HxW of the counts\' images')
    return p.parse_args(argv)


def scales_of(args) -> dict[str, dict]:
    """The scales to measure, with the command line's overrides applied."""
    if args.config:
        base = dict(SCALES['toy'], config=args.config, baseline_config=args.baseline_config, data_options={})
        chosen = {'custom': base}
    else:
        chosen = {name: dict(SCALES[name]) for name in args.scales.split(',')}
    for setting in chosen.values():
        for key in OVERRIDES:
            if getattr(args, key) is not None:
                setting[key] = getattr(args, key)
        setting.update(device=args.device, amp=args.amp, threads=args.threads, cfg_options=args.cfg_options)
        if setting['batch'] is None:
            from mmengine.config import Config
            setting['batch'] = Config.fromfile(osp.join(ROOT, setting['config'])).train_dataloader.batch_size
    return chosen


def counts_setting(args) -> dict:
    """What the counts measure (:data:`COUNTS`), with the command line's device, threads and ``--cfg-options``."""
    return dict(COUNTS, size=args.counts_size, iters=1, repeats=1, device=args.device, amp=args.amp,
                threads=args.threads, cfg_options=args.cfg_options)


def main(argv=None) -> dict:
    args = parse_args(argv)
    models = args.models.split(',')
    command = ('python tools/analysis_tools/speed/bench_model_cost.py '
               + ' '.join(sys.argv[1:] if argv is None else argv))
    if args.counts_only and args.out and osp.isfile(args.out):  # keep the file's timings
        with open(args.out) as f:
            out = json.load(f)
    else:
        out = dict(command=command, host=host_info(), scales={})
    if not args.counts_only:
        for name, setting in scales_of(args).items():
            print(f'{name}: {setting["config"]}, {setting["size"]}, batch {setting["batch"]}, {setting["repeats"]} x '
                  f'{setting["iters"]} iterations per model, {setting["threads"] or "default"} thread(s) per worker')
            out['scales'][name] = measure_scale(setting, models, args.seed)
        first = next(iter(out['scales'].values()))['ratios'].get('tapps/mask2former')
        if first:
            out['ratio'] = {k: (v['median'] if isinstance(v, dict) else v) for k, v in first.items()}
    if not args.no_counts:
        setting = counts_setting(args)
        print(f'counts: {setting["config"]}, {setting["dataset"]} {setting["size"]}, batch {setting["batch"]}, one '
              f'training step after {setting["warmup"]} warm-up step(s) and one inference batch per model')
        counted = models + ['mask2former_pps'] * ('mask2former' in models)  # our object head beside mmdet's
        out['counts'] = dict(measure_counts(setting, counted, args.seed), command=command, host=host_info())
    print(render_model_cost(out))
    if args.out:
        from tapps_mm.fileio import write_json_atomic
        write_json_atomic(out, args.out)
    return out


if __name__ == '__main__':
    main()
