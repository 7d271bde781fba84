"""Side-by-side speed of our PartPQ evaluator vs the official panoptic_parts one, on the same files.

    python tools/analysis_tools/speed/bench_evaluator.py --num-images 10 --size 1024x2048 --spec cityscapes

Two cases, each on random GT/prediction pairs in the official formats, timed in one process against the
official single-process loop with every per-class number checked identical (<= 1e-9):
- smooth: Cityscapes-sized maps (--size), predictions that follow the GT's segments;
- noisy: --noisy-size maps whose part channel has salt-and-pepper noise on --part-noise of the pixels
  (many short runs: the hard case for a run-length table).
Then the scaling of ``evaluate_pps`` with processes, on the smooth images repeated until every process gets
at least --images-per-process of them, and a profile of where a process's time goes: reading the files,
decoding them, the statistics, pickling the per-image rows, the pool's start-up and the parent's own work,
and how much slower the statistics run when --nproc processes run them at once (memory bandwidth and
caches shared). From these, the speed-up the profile predicts for --nproc processes.
"""
from __future__ import annotations

import argparse
import json
import math
import os.path as osp
import pickle
import tempfile
import time

import numpy as np

from tapps_mm.evaluation import PartPQEvaluator, PPSStats, evaluate_pps, pair_files
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.parallel import parallel_map
from tapps_mm.pps_format import read_label, read_prediction
from tapps_mm.specs import PPSSpec, load_spec
from tapps_mm.testing.official import class_stats_of, official_class_stats
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--num-images', type=int, default=10, help='at least 5 (official evaluator limit)')
    p.add_argument('--size', default='1024x2048', help='HxW of the smooth case')
    p.add_argument('--noisy-size', default='512x1024', help='HxW of the noisy case')
    p.add_argument('--part-noise', type=float, default=0.15, metavar='FRACTION',
                   help='salt-and-pepper noise on the part channel of this fraction of the pixels in the noisy '
                        'case (0: no noisy case)')
    p.add_argument('--spec', default='cityscapes')
    p.add_argument('--objects', type=int, default=30, help='thing instances per image')
    p.add_argument('--nproc', type=int, default=2)
    p.add_argument('--images-per-process', type=int, default=16,
                   help='the scaling runs on the smooth images repeated until each process gets this many '
                        '(fewer, and the pool start-up and the last uneven round decide the ratio)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='write the measurements as JSON')
    return p.parse_args()


def random_pairs(spec: PPSSpec, rng, num_images: int, size: str, objects: int, part_noise: float = 0.0):
    """``num_images`` random GT maps and predictions that follow them, the prediction's part channel random on
    ``part_noise`` of its pixels; returns (gts, preds)."""
    h, w = map(int, size.lower().split('x'))
    gts = [random_gt(spec, rng, h, w, num_things=objects) for _ in range(num_images)]
    preds = [prediction_from_gt(spec, g, rng) for g in gts]
    for pred in preds if part_noise else ():
        noisy = rng.random(pred.shape[:2]) < part_noise
        pred[..., 2][noisy] = rng.integers(0, 6, int(noisy.sum()))
    return gts, preds


def versus_official(spec: PPSSpec, case: tuple[str, str, str]) -> dict:
    """Ours (one process, reading included, like the official loop) vs the official loop on the same files."""
    pairs = pair_files(*case)
    t0 = time.perf_counter()
    official, _ = official_class_stats(spec, [(g, p) for _, g, p in pairs])
    t_official = time.perf_counter() - t0
    evaluator = PartPQEvaluator(spec, 'official')
    t0 = time.perf_counter()
    total = PPSStats.zeros(spec.num_classes, spec.num_parts)
    for _, g, p in pairs:
        total += evaluator.image_stats(read_label(g), read_prediction(p), g, p)
    t_ours = time.perf_counter() - t0
    ours = class_stats_of(total, spec)
    max_diff = max(abs(official[s]['iou'] - ours[s]['iou']) for s in official)
    counts_equal = all((official[s]['tp'], official[s]['fp'], official[s]['fn'])
                       == (ours[s]['tp'], ours[s]['fp'], ours[s]['fn']) for s in official)
    n = len(pairs)
    return {'official_s_per_image': t_official / n, 'ours_s_per_image': t_ours / n,
            'speedup_vs_official': t_official / t_ours, 'identical': bool(counts_equal and max_diff <= 1e-9),
            'max_abs_iou_sum_diff': max_diff, 'tp_total': sum(v['tp'] for v in ours.values())}


_PROFILED: PartPQEvaluator | None = None


def _timed_statistics(pair: tuple[str, str, str]) -> float:
    """Seconds of the statistics alone (files already decoded), in whichever process runs it."""
    _, g, p = pair
    gt, pred = read_label(g), read_prediction(p)
    t0 = time.perf_counter()
    _PROFILED.image_stats(gt, pred)
    return time.perf_counter() - t0


def _ready(_: int) -> int:
    return 0


def stage_profile(spec: PPSSpec, case: tuple[str, str, str], nproc: int) -> dict:
    """Seconds per image of each stage in one process, the fixed costs of a pool and of the parent, and the
    slow-down of the statistics when ``nproc`` processes run them at once."""
    global _PROFILED
    _PROFILED = PartPQEvaluator(spec, 'official')
    t0 = time.perf_counter()
    pairs = pair_files(*case)
    t_pairing = time.perf_counter() - t0
    stages = dict.fromkeys(('read', 'decode', 'statistics', 'pickle'), 0.0)
    stats, row_bytes = [], 0
    for _, g, p in pairs:
        t0 = time.perf_counter()
        for path in (g, p):
            with open(path, 'rb') as f:
                f.read()
        t1 = time.perf_counter()
        gt, pred = read_label(g), read_prediction(p)
        t2 = time.perf_counter()
        st = _PROFILED.image_stats(gt, pred)
        t3 = time.perf_counter()
        row = pickle.dumps(st, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(row)
        t4 = time.perf_counter()
        stages['read'] += t1 - t0
        stages['decode'] += t2 - t1 - (t1 - t0)  # read_label / read_prediction read the file again
        stages['statistics'] += t3 - t2
        stages['pickle'] += t4 - t3
        stats.append(st)
        row_bytes += len(row)
    n = len(pairs)
    t0 = time.perf_counter()
    zeros = [0] * n
    PartPQEvaluator(spec, 'official').summarize(
        PerImageStats.from_images([i for i, _, _ in pairs], stats, zeros, zeros, spec.name).total())
    t_summary = time.perf_counter() - t0
    t0 = time.perf_counter()
    list(parallel_map(_ready, range(nproc), nproc, chunksize=1))
    t_pool = time.perf_counter() - t0
    alone = [_timed_statistics(pair) for pair in pairs[:2 * nproc]]
    together = list(parallel_map(_timed_statistics, pairs[:2 * nproc] * 2, nproc, chunksize=1))
    return {'s_per_image': {k: v / n for k, v in stages.items()},
            'row_bytes_per_image': row_bytes / n,
            'pool_start_s': t_pool, 'pairing_s': t_pairing, 'summary_s': t_summary,
            'statistics_slowdown_nproc': float(np.median(together) / np.median(alone))}


def predicted_speedup(profile: dict, n_images: int, nproc: int) -> float:
    """The speed-up of ``nproc`` processes over one that the profile predicts: the per-image work slowed by
    running at once, in rounds of ``nproc`` images, plus the pool's start-up and the parent's serial work."""
    per_image = sum(profile['s_per_image'].values())
    serial = profile['pairing_s'] + profile['summary_s']
    one = serial + n_images * per_image
    many = (serial + profile['pool_start_s']
            + math.ceil(n_images / nproc) * per_image * profile['statistics_slowdown_nproc'])
    return one / many


def scaling(spec: PPSSpec, case: tuple[str, str, str], nproc: int) -> dict:
    seconds = {}
    for procs in (1, nproc):
        t0 = time.perf_counter()
        evaluate_pps(*case, spec, nproc=procs, progress=False)
        seconds[procs] = time.perf_counter() - t0
    return seconds


def main():
    args = parse_args()
    if args.num_images < 5:
        raise SystemExit('--num-images must be >= 5: the official evaluator crashes below that')
    spec = load_spec(args.spec)
    rng = np.random.default_rng(args.seed)
    n = args.num_images
    repeat = max(1, math.ceil(args.images_per_process * args.nproc / n))
    with tempfile.TemporaryDirectory() as root:
        gts, preds = random_pairs(spec, rng, n, args.size, args.objects)
        smooth = write_case_folder(osp.join(root, 'smooth'), gts, preds)
        many = write_case_folder(osp.join(root, 'many'), gts * repeat, preds * repeat)
        del gts, preds
        res = {'images': n, 'size': args.size, 'spec': args.spec, **versus_official(spec, smooth)}
        if args.part_noise:
            noisy = write_case_folder(osp.join(root, 'noisy'),
                                      *random_pairs(spec, rng, n, args.noisy_size, args.objects, args.part_noise))
            res['noisy'] = {'images': n, 'size': args.noisy_size, 'part_noise': args.part_noise,
                            **versus_official(spec, noisy)}
        seconds = scaling(spec, many, args.nproc)
        profile = stage_profile(spec, many, args.nproc)
        m = n * repeat
        res.update({
            'scaling_images': m,
            'scaling_s_per_image_1proc': seconds[1] / m,
            f'scaling_s_per_image_{args.nproc}proc': seconds[args.nproc] / m,
            f'scaling_speedup_{args.nproc}proc_vs_1proc': seconds[1] / seconds[args.nproc],
            'profile': {**profile, 'nproc': args.nproc,
                        f'predicted_speedup_{args.nproc}proc': predicted_speedup(profile, m, args.nproc)},
        })
    print(json.dumps(res, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=2)
    if not (res['identical'] and res.get('noisy', res)['identical']):
        raise SystemExit('MISMATCH between our evaluator and the official one')


if __name__ == '__main__':
    main()
