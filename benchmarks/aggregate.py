"""Run records -> aggregates over seeds (``results.csv``) and paired comparisons (``comparisons.csv``).

Pure functions of the runs and the tables: which runs count, which rows pair with which, grouped by
config, seed, metric and table; every test and interval is :mod:`benchmarks.uncertainty`'s. The paper's
names and units (``PartPQ_Pt``, percent) enter here, through the one mapping
``benchmarks.paper.METRIC_KEYS``; the run records keep the metric's own keys.

Why paired statistics: at toy scale and at the paper's scale alike, the seed moves a model by about as
much as TAPPS differs from the baseline (0.9-1.7 PartPQ in the paper, mmdet reports +-0.2 PQ run-to-run
noise for Mask2Former). Comparing the two methods seed by seed (same seed, same data order) removes the
noise both share; what remains is summarised by the mean difference, its t-interval and how often one
wins, and the output says when there are too few seeds for any claim.

Why also the val images: the metrics are ratios of sums over a finite val set, itself a source of noise.
Where the runs kept their per-image statistics, every cell and comparison also gets the two-level
bootstrap of ``benchmarks.uncertainty`` (seeds x images), the noise split into seed and image parts, the
power of the comparison, Holm-adjusted p-values per table and, for full-scale cells, a verdict against
the paper's number. Runs without the file leave those columns empty and say so in the note.
"""
from __future__ import annotations

import math
import os.path as osp
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from benchmarks import uncertainty as st
from benchmarks.collect import Run
from benchmarks.paper import (
    CONFIG_ROWS,
    EQUIVALENCE_MARGIN,
    KEYS,
    METRIC_KEYS,
    METRICS,
    PERCENT,
    REFERENCE_VARIANT,
    ConfigRows,
    paper_table,
    reports,
)
from benchmarks.toy import TOY
from tapps_mm.evaluation.per_image import PerImageStats

RESULT_COLUMNS = KEYS + ['config', 'metric', 'paper', 'mean', 'std', 'n', 'delta']
COMPARISON_COLUMNS = ['table', 'dataset', 'pretraining', 'metric', 'a_config', 'b_config', 'n_pairs', 'mean_diff',
                      'ci_low', 'ci_high', 'win_fraction']
#: the columns of the seed x image statistics (percent points, but the share, df, p-values and counts)
NOISE_COLUMNS = ['claim_low', 'claim_high', 'claim_df', 'p', 'claim_mc', 'boot_low', 'boot_high', 'boot_mc', 'val_low',
                 'val_high', 'val_mc', 'seed_std', 'image_std', 'image_share']
#: the columns that are not in percent points
UNITLESS = ('image_share', 'claim_df', 'p', 'n_images')
VERDICT_COLUMNS = ['pred_low', 'pred_high', 'tost_p', 'margin', 'verdict']
NO_PER_IMAGE = 'no per-image statistics kept by these runs (made before they were): image columns empty'
#: Tables 1, 5 and 6: TAPPS against the baseline of the same setting
METHOD_TABLES = ('1', '5', '6')


def table_number(table: str) -> str:
    """'1a' -> '1', '3-toy' -> '3': the paper's table a (toy) table follows."""
    return re.match(r'\d+', table)[0]


def is_toy(table: str) -> bool:
    return table.endswith('-toy')


def all_config_rows() -> dict[str, ConfigRows]:
    """The paper's configs and the toy ones: config stem -> its table rows."""
    return {**CONFIG_ROWS, **TOY.rows}


def table_rows(config_rows: dict[str, ConfigRows] | None = None) -> pd.DataFrame:
    """One row per (table row, config) that a config of ours trains, with the paper's values (percent;
    NaN for the toy tables, whose numbers are not comparable with the paper's)."""
    config_rows = all_config_rows() if config_rows is None else config_rows
    paper = paper_table().set_index(KEYS)
    out = []
    for config, rows in config_rows.items():
        for key in rows.keys():
            values = paper.loc[key, METRICS] if key in paper.index else pd.Series(np.nan, index=METRICS)
            if isinstance(values, pd.DataFrame):
                values = values.iloc[0]
            out.append({**dict(zip(KEYS, key)), 'config': config, **values.to_dict()})
    return pd.DataFrame(out, columns=KEYS + ['config'] + METRICS)


def known_tables(rows: pd.DataFrame) -> list[str]:
    return sorted(rows.table.unique(), key=lambda t: (is_toy(t), int(table_number(t)), t))


def table_metrics(table: str) -> list[str]:
    """The paper's columns of ``table`` (for a toy table: of the paper's table it mirrors)."""
    paper = paper_table()
    rows = paper[paper.table == paper_reference(table)]
    cols = [m for m in METRICS if rows[m].notna().any()] if len(rows) else list(METRICS)
    return cols or list(METRICS)


def paper_reference(table: str) -> str:
    """The paper's table a table is set beside: itself, or for a toy table the one it mirrors ('' if none)."""
    if not is_toy(table):
        return table
    return TOY.paper_reference[table][0] if table in TOY.paper_reference else ''


def several_settings(frame: pd.DataFrame) -> bool:
    """Whether the rows of ``frame`` span more than one dataset / backbone / initialisation."""
    return frame[['dataset', 'backbone', 'pretraining']].drop_duplicates().shape[0] > 1


def row_label(row: pd.Series, with_setting: bool = False) -> str:
    """How a table row is named in every table and plot: 'method (variant)', with its setting in front
    where a table mixes settings."""
    label = row.method + (f' ({row.variant})' if row.variant else '')
    return f'{row.dataset} {row.backbone} {row.pretraining}: {label}' if with_setting else label


def select_tables(rows: pd.DataFrame, tables: Sequence[str] | None) -> pd.DataFrame:
    """The rows of ``tables`` (ids like '1a', '3', '3-toy'); an unknown id raises KeyError listing the known."""
    if not tables:
        return rows
    known = known_tables(rows)
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise KeyError(f'unknown table id(s) {unknown}; known: {", ".join(known)}')
    return rows[rows.table.isin(tables)]


def chosen_runs(runs: list[Run]) -> dict[tuple[str, int], Run]:
    """The run that counts for each (config, seed): a training run's final validation; a ``tools/test.py``
    run only where no complete training run exists."""
    chosen: dict[tuple, Run] = {}
    for run in runs:
        if not run.complete:
            continue
        key = (run.config, run.seed)
        if key not in chosen or (chosen[key].source == 'test' and run.source == 'train'):
            chosen[key] = run
    return chosen


def final_values(runs: list[Run]) -> pd.DataFrame:
    """Long format: one row per (config, seed, paper metric) of every complete run, in percent (the run of
    :func:`chosen_runs`). Null / NaN metrics are left out."""
    out = []
    for (config, seed), run in chosen_runs(runs).items():
        for metric, key in METRIC_KEYS.items():
            value = run.metrics.get(key)
            if value is not None and not math.isnan(value):
                out.append(dict(config=config, seed=seed, metric=metric, value=PERCENT * value))
    return pd.DataFrame(out, columns=['config', 'seed', 'metric', 'value'])


class ImageNoise:
    """The seed x image statistics of :mod:`benchmarks.uncertainty` for cells and pairs of configs, from the
    per-image files of their chosen runs (each file read once, each config's resamples computed once).
    Every result is in the paper's names and percent points (the image share is a fraction)."""

    def __init__(self, runs: list[Run], n_boot: int = st.N_BOOT, seed: int = st.BOOT_SEED,
                 max_boot: int = st.MAX_BOOT) -> None:
        self.chosen, self.n_boot, self.seed, self.max_boot = chosen_runs(runs), n_boot, seed, max(max_boot, n_boot)
        self._cache: dict = {}

    def _once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _stacked(self, config: str, seeds: tuple[int, ...]):
        """(spec, image ids, arrays) of the config's runs of ``seeds``, or None if one kept no file."""
        runs = [self.chosen.get((config, s)) for s in seeds]
        if not seeds or any(r is None or not r.per_image for r in runs):
            return None
        files = [self._once(osp.join(r.work_dir, r.per_image), lambda r=r: PerImageStats.load(
            osp.join(r.work_dir, r.per_image))) for r in runs]
        try:
            ids, arrays = st.stacked(files)
        except ValueError as e:
            raise ValueError(f'{config}: {e} ({", ".join(r.work_dir for r in runs)})') from None
        return files[0].spec, ids, arrays

    def _draws(self, n_seeds: int, n_images: int, n_boot: int) -> st.Resamples:
        return self._once(('draws', n_seeds, n_images, n_boot),
                          lambda: st.Resamples.draw(n_seeds, n_images, n_boot, self.seed))

    def _seed_metrics(self, config: str, seeds: tuple[int, ...], n_boot: int):
        def make():
            found = self._stacked(config, seeds)
            if found is None:
                return None
            spec, ids, arrays = found
            draws = self._draws(len(seeds), len(ids), n_boot)
            metric_fn = self._once(('spec', spec), lambda: st.SpecMetrics.of_spec(spec))
            return ids, draws, st.SeedMetrics.of(arrays, draws, metric_fn)
        return self._once(('metrics', config, seeds, n_boot), make)

    def _noise(self, a_config: str, seeds: tuple[int, ...], b_config: str | None, n_boot: int) -> dict | None:
        a = self._seed_metrics(a_config, seeds, n_boot)
        b = self._seed_metrics(b_config, seeds, n_boot) if b_config else None
        if a is None or (b_config and b is None):
            return None
        if b is not None and (len(a[0]) != len(b[0]) or (a[0] != b[0]).any()):
            raise ValueError(f'{a_config} and {b_config} were evaluated on different val images: no paired '
                             'image resampling')
        return st.noise_sources(a[2], b[2] if b else None, a[1])

    def of(self, a_config: str, seeds: Sequence[int], b_config: str | None = None) -> dict[str, dict] | None:
        """Per paper metric, :func:`benchmarks.uncertainty.noise_sources` of a (or of a - b, paired by
        ``seeds``) in percent points, with ``n_boot``: the resamples, doubled from ``n_boot`` (up to
        ``max_boot``) until the Monte-Carlo error of every two-level bootstrap endpoint and claim endpoint is
        below :data:`benchmarks.uncertainty.MC_TARGET`; None when a run of them kept no per-image statistics."""
        seeds = tuple(sorted(int(x) for x in seeds))
        n_boot = self.n_boot
        while True:
            noise = self._noise(a_config, seeds, b_config, n_boot)
            if noise is None:
                return None
            errors = [v[k] for v in noise.values() for k in ('boot_mc', 'claim_mc') if math.isfinite(v[k])]
            if max(errors, default=0.0) <= st.MC_TARGET or n_boot >= self.max_boot:
                break
            n_boot = min(2 * n_boot, self.max_boot)
        out = {}
        for metric, key in METRIC_KEYS.items():
            out[metric] = {k: v if k in UNITLESS else PERCENT * v for k, v in noise[key].items()}
            out[metric]['n_boot'] = n_boot
        return out


def run_status(runs: list[Run]) -> dict[str, str]:
    """Per config: 'complete' when at least one run is, else the furthest 'incomplete k/N'; absent: missing."""
    out: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: (r.complete, r.iters or 0)):
        out[run.config] = run.status
    return out


def results(runs: list[Run], rows: pd.DataFrame, noise: ImageNoise | None = None) -> pd.DataFrame:
    """``results.csv``: per (table row, metric) the paper's value and mean, sample std, n, min, max over
    seeds of the complete runs, delta = mean - paper, the row's status and seeds; the seed x image
    statistics of the mean (:class:`ImageNoise`); for a full-scale cell with a paper value, the prediction
    interval of one more run and the equivalence verdict against the paper (``EQUIVALENCE_MARGIN``)."""
    values = final_values(runs)
    noise = noise or ImageNoise(runs)
    by_seed = {k: g.value.to_numpy() for k, g in values.groupby(['config', 'metric'])}
    status = run_status(runs)
    grouped = values.groupby(['config', 'metric']).value
    agg = grouped.agg(['mean', 'std', 'count', 'min', 'max']).rename(columns={'count': 'n'})
    seeds = values.groupby(['config', 'metric']).seed.agg(lambda s: ','.join(str(int(x)) for x in sorted(s)))
    seeds_of: dict[str, list[int]] = {}
    for config, seed in sorted(noise.chosen):
        seeds_of.setdefault(config, []).append(seed)
    out = []
    for _, row in rows.iterrows():
        config_seeds = seeds_of.get(row.config, [])
        cell_noise = noise.of(row.config, config_seeds) if config_seeds else None
        for metric in METRICS:
            key = (row.config, metric)
            stats_ = agg.loc[key] if key in agg.index and reports(row.method, metric) else None
            n = int(stats_['n']) if stats_ is not None else 0
            mean = float(stats_['mean']) if n else math.nan
            entry = {**{k: row[k] for k in KEYS}, 'config': row.config, 'metric': metric, 'paper': row[metric],
                     'mean': mean, 'std': float(stats_['std']) if n > 1 else math.nan, 'n': n,
                     'delta': mean - row[metric] if n else math.nan,
                     'min': float(stats_['min']) if n else math.nan,
                     'max': float(stats_['max']) if n else math.nan,
                     'status': status.get(row.config, 'missing'), 'seeds': seeds.get(key, '')}
            # the image statistics need the metric on every seed (a metric undefined on one run has none)
            complete = cell_noise is not None and n == len(config_seeds) and n > 0
            entry.update({c: cell_noise[metric][c] if complete else math.nan for c in NOISE_COLUMNS})
            entry['n_boot'] = cell_noise[metric]['n_boot'] if complete else math.nan
            paper_value = row[metric]
            if not is_toy(row.table) and n and not pd.isna(paper_value):
                entry.update(st.reproduction_verdict(by_seed[key], float(paper_value), EQUIVALENCE_MARGIN[metric]))
            else:
                entry.update({c: '' if c == 'verdict' else math.nan for c in VERDICT_COLUMNS})
            entry['boot_seed'] = noise.seed
            out.append(entry)
    return pd.DataFrame(out, columns=RESULT_COLUMNS + ['min', 'max', 'status', 'seeds'] + NOISE_COLUMNS
                        + VERDICT_COLUMNS + ['n_boot', 'boot_seed'])


def comparison_pairs(rows: pd.DataFrame) -> list[tuple[pd.Series, pd.Series]]:
    """(a, b) table rows to compare: TAPPS vs baseline in Tables 1/5/6, each ablation vs its reference
    row in Tables 3/4/7 (and the same in their toy versions), within one dataset / backbone / init."""
    pairs = []
    for _, group in rows.groupby(['table', 'dataset', 'backbone', 'pretraining'], sort=True):
        number = table_number(group.table.iloc[0])
        if number in METHOD_TABLES:
            tapps, base = group[group.method == 'tapps'], group[group.method == 'baseline']
            pairs += [(a, b) for _, a in tapps.iterrows() for _, b in base.iterrows()]
        elif number in REFERENCE_VARIANT:
            ref = group[(group.method == 'tapps') & (group.variant == REFERENCE_VARIANT[number])]
            others = group[(group.method == 'tapps') & (group.variant != REFERENCE_VARIANT[number])]
            pairs += [(a, b) for _, b in ref.iterrows() for _, a in others.iterrows()]
    return pairs


def _paper_diff(a: pd.Series, b: pd.Series, metric: str, paper: pd.DataFrame) -> float:
    """The paper's a - b; for a toy table, that of the paper's table it mirrors (same method / variant)."""
    if not is_toy(a.table):
        return a[metric] - b[metric]
    ref = TOY.paper_reference.get(a.table)
    if ref is None:
        return math.nan
    setting = paper[(paper.table == ref[0]) & (paper.dataset == ref[1]) & (paper.backbone == ref[2])
                    & (paper.pretraining == ref[3])]

    def value(row):
        match = setting[(setting.method == row.method) & (setting.variant == row.variant)]
        return float(match.iloc[0][metric]) if len(match) == 1 else math.nan
    return value(a) - value(b)


def comparisons(runs: list[Run], rows: pd.DataFrame, noise: ImageNoise | None = None) -> pd.DataFrame:
    """``comparisons.csv``: per pair of table rows and metric, the paired statistics over the seeds both
    configs completed (percent points), the paper's difference and a note on what n allows; the seed x
    image statistics of the difference, its t-test p-value, Holm's adjustment over the table's comparisons
    on its primary metric, the minimum detectable difference and the seeds the paper's difference needs."""
    values = final_values(runs)
    noise = noise or ImageNoise(runs)
    by = {k: g.set_index('seed').value for k, g in values.groupby(['config', 'metric'])}
    paper = paper_table()
    out = []
    for a, b in comparison_pairs(rows):
        pair_noise: dict = {}
        for metric in METRICS:
            va, vb = by.get((a.config, metric)), by.get((b.config, metric))
            seeds = sorted(set(va.index) & set(vb.index)) if va is not None and vb is not None else []
            s = st.paired_stats([va[k] for k in seeds], [vb[k] for k in seeds])
            diffs = [va[k] - vb[k] for k in seeds]
            if seeds and tuple(seeds) not in pair_noise:
                pair_noise[tuple(seeds)] = noise.of(a.config, seeds, b.config)
            found = pair_noise.get(tuple(seeds))
            found = found[metric] if found else None
            paper_diff = _paper_diff(a, b, metric, paper)
            status = st.claim_status(found['claim_low'], found['claim_high'], found['claim_mc']) if found else ''
            note = st.claim_note(s['n_pairs'], status, s['ci_low'], s['ci_high'])
            if seeds and found is None:
                note += ('; ' if note else '') + NO_PER_IMAGE
            # the paper's differences are planned for only at full scale: toy noise says nothing about them
            target = paper_diff if not is_toy(a.table) else math.nan
            shared = found['image_std'] ** 2 if found and math.isfinite(found['image_std']) else 0.0
            out.append(dict(table=a.table, dataset=a.dataset, pretraining=a.pretraining, metric=metric,
                            a_config=a.config, b_config=b.config, **s,
                            paper_diff=paper_diff, backbone=a.backbone,
                            a_row=f'{a.method} {a.variant}'.strip(), b_row=f'{b.method} {b.variant}'.strip(),
                            paper_ref=paper_reference(a.table),
                            seeds=','.join(str(int(k)) for k in seeds), note=note,
                            **{c: found[c] if found else math.nan for c in NOISE_COLUMNS}, claim=status,
                            t_p=st.t_test_p(diffs),
                            **st.power(float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan, len(diffs),
                                       target, shared, found['n_images'] if found else 0),
                            n_boot=found['n_boot'] if found else math.nan, boot_seed=noise.seed))
    extra = ['sign_p', 'min_sign_p', 'wins', 'ties', 'paper_diff', 'paper_ref', 'backbone', 'a_row', 'b_row', 'seeds',
             'note', 'claim']
    frame = pd.DataFrame(out, columns=COMPARISON_COLUMNS + extra + NOISE_COLUMNS + [
        't_p', 'mdd', 'mdd_upper', 'image_floor', 'seeds_needed', 'seeds_needed_upper', 'n_boot', 'boot_seed'])
    return with_holm(frame)


def with_holm(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjusted p-values (``holm_p``, of the test behind the claim interval: ``p``) and whether they reject
    at :data:`benchmarks.uncertainty.ALPHA` (``holm_reject``), over a stated family: every metric of every
    comparison of a table that has a p-value (``holm_family``: its size). Why all metrics: the tables report
    them all, and a reader picks."""
    out = comparisons.copy()
    out['holm_p'], out['holm_reject'] = math.nan, pd.array([pd.NA] * len(out), dtype='boolean')
    out['holm_family'] = 0
    for _, group in out.groupby('table'):
        family = group[group.p.notna()]
        if family.empty:
            continue
        out.loc[family.index, 'holm_family'] = len(family)
        adjusted, reject = st.holm(family.p.to_numpy())
        out.loc[family.index, 'holm_p'] = adjusted
        out.loc[family.index, 'holm_reject'] = pd.array(
            [pd.NA if math.isnan(p) else bool(r) for p, r in zip(adjusted, reject)], dtype='boolean')
    return out


def unused_runs(runs: list[Run], rows: pd.DataFrame) -> list[Run]:
    """Runs of configs that no selected table row knows: reported, never silently dropped."""
    known = set(rows.config)
    return [r for r in runs if r.config not in known]


def settings_tried(sources: dict[str, str]) -> pd.DataFrame:
    """Per toy setting measured with the main job (name -> its runs.csv): the configs, the paired seeds, the
    mean and sample std over seeds of each method's PartPQ and of the paired TAPPS - baseline difference
    (percent), and the training + evaluation time (minutes)."""
    out = []
    for name, path in sources.items():
        runs = pd.read_csv(path)
        runs = runs[runs.status == 'complete']
        method = runs.config.str.split('_').str[0]
        by = {m: runs[method == m].set_index('seed').PartPQ * PERCENT for m in ('tapps', 'baseline')}
        diff = (by['tapps'] - by['baseline']).dropna()
        entry = dict(setting=name, configs=', '.join(sorted(set(runs.config))), seeds=len(diff),
                     wall_min=runs.wall_s.sum() / 60)
        for key, values in (('tapps', by['tapps']), ('baseline', by['baseline']), ('diff', diff)):
            entry.update({f'{key}_mean': values.mean(), f'{key}_std': values.std(ddof=1), f'{key}_n': len(values)})
        out.append(entry)
    return pd.DataFrame(out)
