"""The stage of the flow that runs models: the two methods of each per-class comparison (``per_class.csv``
of :mod:`benchmarks.per_class`) side by side on the val images where their runs' per-image statistics
differ most, from their seed-0 checkpoints (``tapps_mm.apis.comparison``).

Why a stage of its own, after the aggregates are written: aggregating reads statistics only and takes
seconds; this loads checkpoints, builds datasets and runs inference. ``benchmarks.reproduce`` calls it
between writing the aggregates and publishing them.
"""
from __future__ import annotations

import glob
import os.path as osp
import shutil

import pandas as pd

from benchmarks import REPO
from benchmarks.aggregate import chosen_runs
from benchmarks.collect import Run


def repository_config(stem: str) -> str | None:
    """The config file of this repository a run's config stem names (a work dir's own dumped config is never
    run: it may come from elsewhere)."""
    found = glob.glob(osp.join(REPO, 'configs', '*', f'{stem}.py'))
    return found[0] if found else None


def prediction_figures(runs: list[Run], a: str, b: str, out_dir: str, seed: int = 0, num: int = 2,
                       num_random: int = 1) -> list[dict]:
    """Side-by-side predictions of configs ``a`` and ``b`` (their seed-``seed`` runs' final checkpoints) on
    the val images where the runs' per-image statistics differ most, plus ``num_random`` at random
    (``tapps_mm.apis.comparison``); nothing when a run, its checkpoint or its per-image file is missing."""
    chosen = chosen_runs(runs)
    pair = [chosen.get((c, seed)) for c in (a, b)]
    configs = [repository_config(c) for c in (a, b)]
    checkpoints = [osp.join(r.work_dir, f'iter_{r.max_iters}.pth') if r else '' for r in pair]
    if not all(configs) or not all(r and r.per_image for r in pair) or not all(map(osp.isfile, checkpoints)):
        return []
    from tapps_mm.apis import init_pps_model
    from tapps_mm.apis.comparison import Method, compare, dataset_samples
    methods = [Method(c.split('_')[0], init_pps_model(cfg, ckpt), osp.join(r.work_dir, r.per_image))
               for c, cfg, ckpt, r in zip((a, b), configs, checkpoints, pair)]
    samples = dataset_samples(configs[0], split_cfg='val_dataloader')
    return compare(*methods, samples, out_dir, num, num_random, seed=0, progress=False)


def write_prediction_figures(runs: list[Run], per_class: pd.DataFrame, plot_dir: str) -> list[str]:
    """For each table of ``per_class`` (its first row names the pair of configs): the figures in
    ``plot_dir/predictions_<table>/``, the first (largest difference, the one the README shows) copied to
    ``plot_dir/predictions_<table>.png``. Returns the tables drawn."""
    drawn = []
    for table in sorted(set(per_class.get('table', []))):
        first = per_class[per_class.table == table].iloc[0]
        figures = prediction_figures(runs, first.a_config, first.b_config, osp.join(plot_dir, f'predictions_{table}'))
        if figures:
            shutil.copyfile(figures[0]['files'][0], osp.join(plot_dir, f'predictions_{table}.png'))
            drawn.append(table)
    return drawn
