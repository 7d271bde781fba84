"""Side-by-side speed of our PartPQ evaluator vs the official panoptic_parts one, on the same files.

    python benchmarks/bench_evaluator.py --num-images 10 --size 1024x2048 --spec cityscapes

Writes random Cityscapes-sized GT/prediction pairs in the official formats, times the official
single-process loop and ours (1 process, then --nproc processes), checks that every per-class number
is identical (<= 1e-9), and prints the times and the speed-up ratio; then times ours with 1 process
and with --nproc processes on the images repeated --repeat times (process start-up needs more than a
few images to pay off).
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import tempfile
import time

import numpy as np

from tapps_mm.evaluation import PartPQEvaluator, PPSStats, evaluate_pps, pair_files
from tapps_mm.pps_format import read_label, read_prediction
from tapps_mm.specs import load_spec
from tapps_mm.testing.official import class_stats_of, official_class_stats
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--num-images', type=int, default=10, help='at least 5 (official evaluator limit)')
    p.add_argument('--size', default='1024x2048', help='HxW')
    p.add_argument('--spec', default='cityscapes')
    p.add_argument('--objects', type=int, default=30, help='thing instances per image')
    p.add_argument('--nproc', type=int, default=2)
    p.add_argument('--repeat', type=int, default=4,
                   help='the 1-process vs --nproc comparison runs on the images repeated this often')
    p.add_argument('--part-noise', type=float, default=0.0, metavar='FRACTION',
                   help='salt-and-pepper noise on the part channel of this fraction of the pixels (a noisy '
                        'prediction: many short runs), e.g. 0.15')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='write the measurements as JSON')
    return p.parse_args()


def main():
    args = parse_args()
    if args.num_images < 5:
        raise SystemExit('--num-images must be >= 5: the official evaluator crashes below that')
    h, w = map(int, args.size.lower().split('x'))
    spec = load_spec(args.spec)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as root:
        gts = [random_gt(spec, rng, h, w, num_things=args.objects) for _ in range(args.num_images)]
        preds = [prediction_from_gt(spec, g, rng) for g in gts]
        for pred in preds if args.part_noise else ():
            noisy = rng.random(pred.shape[:2]) < args.part_noise
            pred[..., 2][noisy] = rng.integers(0, 6, int(noisy.sum()))
        gt_dir, pred_dir, images_json = write_case_folder(osp.join(root, 'a'), gts, preds)
        scaling_case = write_case_folder(osp.join(root, 'b'), gts * args.repeat, preds * args.repeat)
        del gts, preds
        pairs = pair_files(gt_dir, pred_dir, images_json)

        t0 = time.perf_counter()
        official, _ = official_class_stats(spec, [(g, p) for _, g, p in pairs])
        t_official = time.perf_counter() - t0

        evaluator = PartPQEvaluator(spec, 'official')
        t0 = time.perf_counter()
        total = PPSStats.zeros(spec.num_classes, spec.num_parts)
        for _, g, p in pairs:  # includes reading the files, like the official loop
            total += evaluator.image_stats(read_label(g), read_prediction(p), g, p)
        t_ours = time.perf_counter() - t0
        ours = class_stats_of(total, spec)

        scaling = {}
        for nproc in (1, args.nproc):
            t0 = time.perf_counter()
            evaluate_pps(*scaling_case, spec, nproc=nproc, progress=False)
            scaling[nproc] = (time.perf_counter() - t0) / (args.num_images * args.repeat)

    max_diff = max(abs(official[s]['iou'] - ours[s]['iou']) for s in official)
    counts_equal = all((official[s]['tp'], official[s]['fp'], official[s]['fn'])
                       == (ours[s]['tp'], ours[s]['fp'], ours[s]['fn']) for s in official)
    n = args.num_images
    res = {
        'images': n, 'size': args.size, 'spec': args.spec,
        'official_s_per_image': t_official / n,
        'ours_s_per_image': t_ours / n,
        'speedup_vs_official': t_official / t_ours,
        'scaling_images': n * args.repeat,
        'scaling_s_per_image_1proc': scaling[1],
        f'scaling_s_per_image_{args.nproc}proc': scaling[args.nproc],
        f'scaling_speedup_{args.nproc}proc_vs_1proc': scaling[1] / scaling[args.nproc],
        'identical': bool(counts_equal and max_diff <= 1e-9),
        'max_abs_iou_sum_diff': max_diff,
        'tp_total': sum(v['tp'] for v in ours.values()),
    }
    print(json.dumps(res, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=2)
    if not res['identical']:
        raise SystemExit('MISMATCH between our evaluator and the official one')


if __name__ == '__main__':
    main()
