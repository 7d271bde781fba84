"""Score PPS predictions with PartPQ / PartSQ / PQ / mIoU (the official panoptic_parts numbers, fast).

    tapps-mm-evaluate GT_DIR PRED_DIR IMAGES_JSON --spec cityscapes --out RESULTS.json --nproc 2
    python tools/evaluate_pps.py ...       (the same, from a checkout)

The command of the light install (``pip install ./evaluator``: no torch or OpenMMLab packages) and of the full
one alike.
"""
from __future__ import annotations

import argparse
import json

from tapps_mm.evaluation.evaluate import check_output_file, evaluate_pps
from tapps_mm.evaluation.partpq import UNDEFINED_PIDS
from tapps_mm.fileio import write_json_atomic
from tapps_mm.specs import NAMED_SPECS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('gt_dir', help='folder with the ground-truth uid .tif files')
    parser.add_argument('pred_dir', help='folder with the 3-channel prediction PNGs')
    parser.add_argument('images_json', help='official images.json with the image ids to evaluate')
    parser.add_argument('--spec', default='cityscapes',
                        help=f'spec name ({", ".join(NAMED_SPECS)}) or an eval-spec YAML (default: cityscapes)')
    parser.add_argument('--out', help='write all results (incl. per class) to this JSON file')
    parser.add_argument('--per-image-out', metavar='FILE',
                        help='also keep the per-image statistics (for resampling the val images: docs/statistics.md)')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes (default: 1)')
    parser.add_argument('--undefined-pids', choices=UNDEFINED_PIDS, default='unlabelled',
                        help="GT pids the dataset spec does not define (Cityscapes-PP person/rider pid 5): "
                             "'unlabelled' = no part label, as in training (default); 'official' = scored "
                             'like panoptic_parts 2.0rc6 does')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.out:
        check_output_file(args.out, '--out')
    results = evaluate_pps(args.gt_dir, args.pred_dir, args.images_json, args.spec, nproc=args.nproc,
                           undefined_pids=args.undefined_pids, per_image_file=args.per_image_out)
    summary = {k: v for k, v in results.items() if k != 'per_class'}
    print(json.dumps(summary, indent=2))
    if args.out:
        write_json_atomic(results, args.out)
        print(f'Results written to {args.out}')


if __name__ == '__main__':
    main()
