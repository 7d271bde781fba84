"""The paper-scale rehearsal: every config of the paper's Tables 1-7 trains a few iterations on this CPU on fake
data at the real image sizes, is tested, and is collected into the tables marked as a rehearsal, never shown as a
result (``benchmarks.rehearsal``; ``make rehearsal``).

    python tools/rehearse.py                    # all paper configs; record: benchmarks/results/rehearsal.json
    python tools/rehearse.py --small            # one Cityscapes-PP and one Pascal-PP config, 1 iteration (make test)
    python tools/rehearse.py --configs tapps_r50_4xb4-90k_cityscapes-pp --root work_dirs/r1
    python tools/rehearse.py --dry-run          # the train and test command of each config, nothing run

Stopped, it continues where it stopped with the same command (configs recorded complete are skipped);
--force starts again.
"""
import argparse
import os.path as osp
import sys

# benchmarks/ (the results pipeline) is not installed: it and tapps_mm are imported from the checkout this
# script belongs to (docs/architecture.md, "The results pipeline")
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.rehearsal import FULL, RECORD, ROOT, SMALL, SMALL_ROOT, main  # noqa: E402


def count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value} is not a count: give 1 or more')
    return value


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--small', action='store_true',
                   help=f'the small version: {", ".join(SMALL.configs)}, {SMALL.iters} iteration, in {SMALL_ROOT}/')
    p.add_argument('--configs', nargs='+', metavar='CONFIG', help='only these paper configs (stems or files)')
    p.add_argument('--root', help=f'work dirs, fake data and tables (default {ROOT}/)')
    p.add_argument('--record', help=f'the record (default {RECORD}; with --small or --root: ROOT/rehearsal.json)')
    p.add_argument('--jobs', type=count, default=2, help='configs at once, one thread each (default 2)')
    p.add_argument('--iters', type=count, help=f'training iterations (default {FULL.iters})')
    p.add_argument('--batch-size', type=count, help=f'images per iteration (default {FULL.batch_size})')
    p.add_argument('--num-train', type=count, help=f'fake training images (default {FULL.num_train})')
    p.add_argument('--num-val', type=count, help=f'fake val images, each tested (default {FULL.num_val})')
    p.add_argument('--force', action='store_true', help='start again: forget the record and the work dirs')
    p.add_argument('--keep-checkpoints', action='store_true', help='keep each config\'s checkpoint (0.5-1.3 GB)')
    p.add_argument('--dry-run', action='store_true', help='print the commands, run nothing')
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


if __name__ == '__main__':
    sys.exit(main(parse_args()))
