"""The outputs of one collection: the CSV aggregates, ``meta.json``, tables (Markdown, LaTeX), plots and
summary under ``--out``, and publishing the aggregates into the committed ``benchmarks/results/`` that the
documents are rendered from.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
from datetime import datetime

import pandas as pd

from benchmarks import REPO, aggregate, plots, render, statistics
from benchmarks.collect import Run, runs_frame
from benchmarks.launch import git_commit, machine
from benchmarks.toy import TOY

RESULTS_DIR = osp.join(REPO, 'benchmarks', 'results')  # the committed aggregates the documents are rendered from
PUBLISHED = ('runs.csv', 'results.csv', 'comparisons.csv', 'meta.json')


def meta_of(runs: list[Run], command_line: str, quick: bool) -> dict:
    """The aggregates' own record: what ran, where, when (the newest run start), at which commit."""
    commits = sorted({r.commit for r in runs if r.commit})
    machines = sorted({r.machine for r in runs if r.machine})
    starts = sorted(r.last_start for r in runs if r.last_start)
    date = datetime.strptime(starts[-1], '%Y%m%d_%H%M%S').strftime('%Y-%m-%d') if starts else 'undated'
    return dict(command=command_line, quick=quick, date=date,
                commit=', '.join(commits) if commits else f'{git_commit()} (at collection; not recorded by the runs)',
                machine='; '.join(machines) if machines else machine(),
                runs=len(runs), runs_complete=sum(r.complete for r in runs),
                wall_s=round(sum(r.wall_s or 0.0 for r in runs), 1),
                seeds=sorted({r.seed for r in runs if r.seed is not None}),
                per_image_runs=sum(bool(r.per_image) for r in runs if r.complete),
                bootstrap=dict(n_boot=statistics.N_BOOT, generator_seed=statistics.BOOT_SEED,
                               confidence=statistics.CONFIDENCE),
                # the runs `--tables 3 4 7` adds to the default job, for the time estimate of the documents
                ablation_runs=sum(len(v) for v in TOY.table_configs.values()) * TOY.seeds)


def write_outputs(runs: list[Run], rows: pd.DataFrame, out_dir: str, meta: dict) -> dict[str, pd.DataFrame]:
    """Everything under ``out_dir``: the CSVs, meta.json, tables (Markdown, LaTeX), plots, summary."""
    os.makedirs(out_dir, exist_ok=True)
    noise = aggregate.ImageNoise(runs)  # one cache of per-image files and resamples for cells and comparisons
    frames = dict(runs=runs_frame(runs), results=aggregate.results(runs, rows, noise),
                  comparisons=aggregate.comparisons(runs, rows, noise))
    for name, frame in frames.items():
        frame.to_csv(osp.join(out_dir, f'{name}.csv'), index=False, float_format='%.6g')
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    with open(osp.join(out_dir, 'tables.md'), 'w') as f:
        f.write(render.tables_markdown(frames['results'], frames['comparisons'], meta))
    with open(osp.join(out_dir, 'tables.tex'), 'w') as f:
        f.write(render.tables_latex(frames['results'], meta))
    unused = sorted({f'{r.config} (seed {r.seed}, {r.work_dir})' for r in aggregate.unused_runs(runs, rows)})
    text = render.summary(frames['runs'], frames['results'], frames['comparisons'], meta, unused)
    with open(osp.join(out_dir, 'summary.md'), 'w') as f:
        f.write(text)
    plot_dir = osp.join(out_dir, 'plots')
    shutil.rmtree(plot_dir, ignore_errors=True)
    plots.plot_all(runs, frames['results'], aggregate.final_values(runs), frames['comparisons'], plot_dir,
                   smoke=bool(meta.get('quick')))
    frames['summary'] = text
    return frames


def publish(out_dir: str, results_dir: str = RESULTS_DIR) -> None:
    """Copy the aggregates of ``out_dir`` into the committed ``benchmarks/results/`` (work dirs made
    relative to the repository: no machine paths in committed files)."""
    os.makedirs(results_dir, exist_ok=True)
    for name in PUBLISHED:
        src, dst = osp.join(out_dir, name), osp.join(results_dir, name)
        if name == 'runs.csv':
            frame = pd.read_csv(src)
            frame['work_dir'] = [_relative(p) for p in frame.work_dir]
            frame.to_csv(dst, index=False, float_format='%.6g')
        else:
            shutil.copyfile(src, dst)


def _relative(path: str) -> str:
    full = osp.abspath(path)
    return osp.relpath(full, REPO) if full.startswith(REPO + os.sep) else osp.basename(full)


def load_published(results_dir: str = RESULTS_DIR):
    """(results, comparisons, meta) from the committed aggregates, or (None, None, None)."""
    paths = [osp.join(results_dir, n) for n in ('results.csv', 'comparisons.csv', 'meta.json')]
    if not all(osp.isfile(p) for p in paths):
        return None, None, None
    read = dict(dtype={'table': str, 'variant': str, 'paper_ref': str}, keep_default_na=True)
    results = pd.read_csv(paths[0], **read).fillna({'variant': '', 'seeds': '', 'status': 'missing'})
    comparisons = pd.read_csv(paths[1], **read).fillna({'note': '', 'seeds': '', 'paper_ref': ''})
    with open(paths[2]) as f:
        meta = json.load(f)
    return results, comparisons, meta
