"""Check a part-aware panoptic data root before a long training job; list what is missing or malformed.

    python tools/dataset_converters/check_dataset.py data/cityscapes --dataset cityscapes --nproc 8
    python tools/dataset_converters/check_dataset.py data/pascal_pp --dataset pascal --splits validation

Exit code 0 when there are no errors (warnings allowed), 1 otherwise. Cityscapes-PP's undefined
person / rider pid 5 (9 munster val files) is reported as a WARNING: those pixels are treated as
'no part label' in training and evaluation. See tapps_mm/datasets/check.py for every check.
"""
import argparse
import sys

from tapps_mm.datasets.check import CHECKABLE_DATASETS, check_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='dataset root folder')
    parser.add_argument('--dataset', required=True, choices=sorted(CHECKABLE_DATASETS), help='dataset layout')
    parser.add_argument('--splits', nargs='+', help='splits to check (default: train val, or training validation '
                        'for Pascal)')
    parser.add_argument('--spec', help='spec name or eval-spec YAML (default: the dataset\'s own)')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes (default: 1)')
    parser.add_argument('--max-listed', type=int, default=10, help='files listed per undefined-pid warning')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = check_dataset(args.root, args.dataset, args.splits, args.spec, nproc=args.nproc, progress=True,
                           max_listed=args.max_listed)
    print()
    print(report.summary(max_items=50))
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
