"""Reproduce the paper's tables: train the missing (config, seed) runs, collect them, aggregate over seeds,
compare paired by seed, and write tables, plots, CSVs and a summary (``benchmarks.reproduce``).

    python tools/reproduce_tables.py                       # the toy benchmark on this machine (make reproduce)
    python tools/reproduce_tables.py --quick               # the same path in minutes (numbers: smoke test)
    python tools/reproduce_tables.py --tables all          # the whole toy paper, Tables 1, 3, 4, 5, 7 (reproduce-all)
    python tools/reproduce_tables.py --work-dirs DIR       # collect and render runs made elsewhere (cluster)
    python tools/reproduce_tables.py --launch slurm --partition P --jobs 4   # runs as an sbatch job array
    python tools/reproduce_tables.py --publish --update-readme   # store the aggregates, rewrite the documents
    python tools/reproduce_tables.py --check               # exit 1 if a generated block is stale
"""
import argparse
import os.path as osp
import re
import sys

# benchmarks/ (the results pipeline) is not installed: it and tapps_mm are imported from the checkout this
# script belongs to, whose runs it launches and collects (docs/architecture.md, "The results pipeline")
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.launch import LAUNCHERS  # noqa: E402
from benchmarks.reproduce import main  # noqa: E402
from benchmarks.toy import TOY  # noqa: E402


def positive_int(text: str) -> int:
    """An integer of at least 1 (a count of seeds or of parallel jobs)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value} is not a count: give 1 or more')
    return value


def partition_name(text: str) -> str:
    """A Slurm partition name (it goes into the generated sbatch script: no spaces, newlines or quotes)."""
    if not re.fullmatch(r'[A-Za-z0-9_.,:+-]*', text):
        raise argparse.ArgumentTypeError(f'{text!r} is not a Slurm partition name (letters, digits, _ . , : + -)')
    return text


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', help='where the tables, plots and CSVs go (default work_dirs/reproduce/, '
                                 'work_dirs/reproduce/quick/ with --quick)')
    p.add_argument('--seeds', type=positive_int, help=f'seeds 0..N-1 per config (default {TOY.seeds}; '
                                             f'{TOY.quick_seeds} with --quick)')
    p.add_argument('--quick', action='store_true', help='tiny schedule end to end in minutes (smoke numbers), '
                                                        f'in {TOY.quick_work_root}/')
    p.add_argument('--tables', nargs='+', metavar='ID',
                   help='launching: toy versions of these tables too (3, 4, 5, 7; all: every one, the whole toy '
                        'paper); with --work-dirs: render only these tables (1a, 3, 3-toy, ...; a number selects all '
                        'its versions; all: every table)')
    p.add_argument('--work-dirs', nargs='+', metavar='DIR',
                   help='collect and render the runs below DIR; launch nothing')
    p.add_argument('--work-root', help='where the runs live: <root>/<config stem>/seed<k>/ (default work_dirs)')
    p.add_argument('--launch', choices=LAUNCHERS, default='local',
                   help='local: here; dist: tools/dist_train.sh (GPUS); slurm: an sbatch job array of '
                        'tools/slurm_train.sh (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, GRES, SRUN_ARGS)')
    p.add_argument('--partition', type=partition_name, default='', help='Slurm partition (--launch slurm)')
    p.add_argument('--jobs', type=positive_int,
                   help='runs at once (local: default one per usable core, each with one thread; slurm: the job '
                        'array\'s limit)')
    p.add_argument('--dry-run', action='store_true', help='print what would run, run nothing')
    p.add_argument('--publish', action='store_true',
                   help='store this call\'s aggregates in benchmarks/results/ (committed; the documents are rendered '
                        'from them)')
    p.add_argument('--update-readme', action='store_true',
                   help='rewrite the generated blocks of README.md and docs/ (and the metafiles) from '
                        'benchmarks/results/; alone, it runs nothing')
    p.add_argument('--check', action='store_true', help='exit 1 if a generated block is stale; runs nothing')
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


if __name__ == '__main__':
    sys.exit(main(parse_args()))
