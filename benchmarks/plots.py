"""Aggregates -> figures (matplotlib, Agg; each written as PNG and PDF).

- ``table_<id>``: per metric, every row's seeds (dots), their mean and range, and the paper's value;
- ``curves_<config>``: the training loss and the validation PartPQ over iterations, seeds overlaid;
- ``diffs_<id>``: the paired differences a - b with their 95% t-intervals, and the paper's difference.

The figures show the seed spread on purpose: a mean alone hides that at toy scale the seeds move the
numbers by about as much as the methods differ.
"""
from __future__ import annotations

import os
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.aggregate import is_toy, row_label, several_settings, table_metrics  # noqa: E402
from benchmarks.collect import Run  # noqa: E402


def _save(fig, out_dir: str, name: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'{name}.{ext}') for ext in ('png', 'pdf')]
    for path in paths:
        fig.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(fig)
    return paths


def _pair_label(r: pd.Series, setting: bool) -> str:
    """'a - b: metric (n=k)', without the method name both rows share."""
    a, b = r.a_row, r.b_row
    if a.startswith('tapps ') and b.startswith('tapps '):
        a, b = a[6:], b[6:]
    text = f'{a} - {b}: {r.metric} (n={r.n_pairs})'
    return f'{r.pretraining}: {text}' if setting else text


def plot_table(results: pd.DataFrame, values: pd.DataFrame, table: str, out_dir: str, smoke: bool = False
               ) -> list[str]:
    """Ours (each seed, mean, min-max) vs the paper's value, one panel per metric of ``table``."""
    part = results[results.table == table]
    metrics = table_metrics(table)
    rows = part.drop_duplicates('config')
    setting = several_settings(rows)
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.1 * len(metrics) + 1.5, 3.2 + 0.12 * len(rows)),
                             squeeze=False)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for ax, metric in zip(axes[0], metrics):
        for i, (_, row) in enumerate(rows.iterrows()):
            color = colors[i % len(colors)]
            seeds = values[(values.config == row.config) & (values.metric == metric)].value.to_numpy()
            if seeds.size:
                ax.scatter(np.full(seeds.size, i) + np.linspace(-0.12, 0.12, seeds.size), seeds, s=12, color=color,
                           alpha=0.6, zorder=3)
                ax.errorbar(i, seeds.mean(), yerr=[[seeds.mean() - seeds.min()], [seeds.max() - seeds.mean()]],
                            fmt='o', color=color, ms=6, capsize=4, zorder=4)
            else:
                status = part[(part.config == row.config)].status.iloc[0]
                ax.annotate(status if status != 'complete' else 'n/a', (i, 0.5), xycoords=('data', 'axes fraction'),
                            rotation=90, ha='center', va='center', fontsize=7, color='gray')
            paper = part[(part.config == row.config) & (part.metric == metric)].paper.iloc[0]
            if not np.isnan(paper):
                ax.scatter([i], [paper], marker='_', s=300, color='black', zorder=5,
                           label='paper' if i == 0 else None)
        ax.set_title(metric, fontsize=9)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([row_label(r, setting) for _, r in rows.iterrows()], rotation=60, ha='right', fontsize=7)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.grid(axis='y', alpha=0.3)
    axes[0][0].set_ylabel('%')
    scale = 'toy scale (seeds: dots; mean and range)' if is_toy(table) else 'ours (seeds, mean, range) vs paper (—)'
    if smoke:
        scale = 'SMOKE TEST (--quick), ' + scale
    fig.suptitle(f'Table {table}: {scale}', fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, f'table_{table}')


def plot_curves(runs: list[Run], out_dir: str) -> list[str]:
    """Loss and PartPQ over iterations, one figure per config, one line per seed."""
    paths = []
    for config in sorted({r.config for r in runs}):
        mine = sorted((r for r in runs if r.config == config), key=lambda r: (r.seed is None, r.seed))
        fig, (loss_ax, pq_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
        for run in mine:
            label = f'seed {run.seed}' + ('' if run.complete else f' ({run.status})')
            if run.curves.get('loss'):
                it, v = zip(*run.curves['loss'])
                loss_ax.plot(it, v, lw=1, label=label)
            if run.curves.get('PartPQ'):
                it, v = zip(*run.curves['PartPQ'])
                pq_ax.plot(it, 100 * np.asarray(v), marker='o', ms=4, lw=1, label=label)
        loss_ax.set(xlabel='iteration', ylabel='training loss', title='loss')
        pq_ax.set(xlabel='iteration', ylabel='PartPQ (%)', title='validation PartPQ')
        for ax in (loss_ax, pq_ax):
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        fig.suptitle(config, fontsize=9)
        fig.tight_layout()
        paths += _save(fig, out_dir, f'curves_{config}')
    return paths


def plot_comparisons(comparisons: pd.DataFrame, table: str, out_dir: str, smoke: bool = False) -> list[str]:
    """The paired differences of ``table`` with their 95% intervals (points without an interval: n < 2)."""
    part = comparisons[(comparisons.table == table) & (comparisons.n_pairs > 0)
                       & comparisons.metric.isin(table_metrics(table))]
    if part.empty:
        return []
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(part) + 1.2))
    y = np.arange(len(part))[::-1]
    ci = np.vstack([part.mean_diff - part.ci_low, part.ci_high - part.mean_diff]).clip(min=0)
    ax.errorbar(part.mean_diff, y, xerr=np.nan_to_num(ci), fmt='o', capsize=3, color='C0',
                label='ours: mean, 95% t-interval over seeds')
    if 'boot_low' in part and part.boot_low.notna().any():  # runs that kept per-image statistics
        boot = np.vstack([part.mean_diff - part.boot_low, part.boot_high - part.mean_diff]).clip(min=0)
        ax.errorbar(part.mean_diff, y - 0.25, xerr=np.nan_to_num(boot), fmt='none', capsize=2, color='C1',
                    label='95% bootstrap, seeds x val images')
    ref = part.paper_ref.iloc[0] if 'paper_ref' in part else ''
    paper_label = f'the paper\'s Table {ref} (full scale)' if is_toy(table) and ref else 'paper'
    ax.scatter(part.paper_diff, y, marker='x', color='black', zorder=5, label=paper_label)
    ax.axvline(0, color='gray', lw=0.8)
    ax.set_yticks(y)
    setting = part.pretraining.nunique() > 1
    ax.set_yticklabels([_pair_label(r, setting) for _, r in part.iterrows()], fontsize=7)
    ax.set_xlabel('difference a - b (percent points)')
    title = f'Table {table}: paired differences by seed'
    ax.set_title(('SMOKE TEST (--quick), ' if smoke else '') + title, fontsize=10)
    ax.grid(axis='x', alpha=0.3)
    ax.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.1 - 1.2 / (len(part) + 4)), ncol=2,
              frameon=False)
    fig.tight_layout()
    return _save(fig, out_dir, f'diffs_{table}')


def plot_all(runs: list[Run], results: pd.DataFrame, values: pd.DataFrame, comparisons: pd.DataFrame,
             out_dir: str, smoke: bool = False) -> list[str]:
    """Every figure for the tables that have at least one run; returns the written paths."""
    paths = []
    for table in sorted(results.table.unique()):
        part = results[results.table == table]
        if (part.status == 'missing').all():
            continue
        paths += plot_table(results, values, table, out_dir, smoke)
        paths += plot_comparisons(comparisons, table, out_dir, smoke)
    return paths + plot_curves(runs, out_dir)


def plot_per_class(per_class: pd.DataFrame, table: str, out_dir: str, smoke: bool = False) -> list[str]:
    """Per class, a - b on PartPQ (dots, 95% t-interval over seeds) and PQ (crosses), classes sorted by the
    PartPQ difference, parts classes and no-parts classes in their own panels."""
    part = per_class[per_class.table == table]
    if part.empty:
        return []
    groups = [g for g in ('parts classes', 'no-parts classes') if (part.group == g).any()]
    sizes = [int((part.group == g).sum()) for g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(3.4, 0.9 + 0.28 * sum(sizes) + 0.5 * len(groups)),
                             squeeze=False, gridspec_kw=dict(height_ratios=sizes))
    for ax, group in zip(axes[:, 0], groups):
        rows = part[part.group == group].sort_values('PartPQ_diff')
        y = np.arange(len(rows))
        err = np.vstack([rows.PartPQ_diff - rows.PartPQ_low, rows.PartPQ_high - rows.PartPQ_diff]).clip(min=0)
        ax.errorbar(rows.PartPQ_diff, y, xerr=np.nan_to_num(err), fmt='o', ms=4, capsize=2, color='C0',
                    label='PartPQ (95% t-interval)')
        ax.scatter(rows.PQ_diff, y, marker='x', s=18, color='C1', zorder=4, label='PQ')
        ax.axvline(0, color='gray', lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(rows.name, fontsize=7)
        ax.set_title(group, fontsize=8)
        ax.tick_params(axis='x', labelsize=7)
        ax.grid(axis='x', alpha=0.3)
    first = part.iloc[0]
    axes[-1, 0].set_xlabel(f'{first.a_config.split("_")[0]} - {first.b_config.split("_")[0]} '
                           f'(percent points, n={int(part.n_pairs.max())} seeds)', fontsize=7)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc='lower center', ncol=2, fontsize=6, frameon=False)
    fig.suptitle(('SMOKE TEST (--quick), ' if smoke else '') + f'Table {table}: per class', fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, out_dir, f'per_class_{table}')
