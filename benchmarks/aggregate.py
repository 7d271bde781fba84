"""Run records -> aggregates over seeds (``results.csv``) and paired comparisons (``comparisons.csv``).

Pure functions of the runs and the tables. The paper's names and units (``PartPQ_Pt``, percent) enter here,
through the one mapping ``benchmarks.paper.METRIC_KEYS``; the run records keep the metric's own keys.

Why paired statistics: at toy scale and at the paper's scale alike, the seed moves a model by about as
much as TAPPS differs from the baseline (0.9-1.7 PartPQ in the paper, mmdet reports +-0.2 PQ run-to-run
noise for Mask2Former). Comparing the two methods seed by seed (same seed, same data order) removes the
noise both share; what remains is summarised by the mean difference, its t-interval and how often one
wins, and the output says when there are too few seeds for any claim.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.paper import CONFIG_ROWS, KEYS, METRIC_KEYS, METRICS, PERCENT, ConfigRows, paper_table
from benchmarks.runs import Run
from benchmarks.toy import TOY

RESULT_COLUMNS = KEYS + ['config', 'metric', 'paper', 'mean', 'std', 'n', 'delta']
COMPARISON_COLUMNS = ['table', 'dataset', 'pretraining', 'metric', 'a_config', 'b_config', 'n_pairs', 'mean_diff',
                      'ci_low', 'ci_high', 'p_improvement']
#: Tables 3, 4 and 7: each row against the table's reference row (the plain TAPPS config)
REFERENCE_VARIANT = {'3': 'compat train yes / test yes', '4': 'adaptation 2-layer MLP', '7': 'fixed part queries'}
#: Tables 1, 5 and 6: TAPPS against the baseline of the same setting
METHOD_TABLES = ('1', '5', '6')
CONFIDENCE = 0.95
SIGN_TEST_ALPHA = 0.05


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


def select_tables(rows: pd.DataFrame, tables: Sequence[str] | None) -> pd.DataFrame:
    """The rows of ``tables`` (ids like '1a', '3', '3-toy'); an unknown id raises KeyError listing the known."""
    if not tables:
        return rows
    known = known_tables(rows)
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise KeyError(f'unknown table id(s) {unknown}; known: {", ".join(known)}')
    return rows[rows.table.isin(tables)]


def final_values(runs: list[Run]) -> pd.DataFrame:
    """Long format: one row per (config, seed, paper metric) of every complete run, in percent.

    A (config, seed) with both a training run and a ``tools/test.py`` run uses the training run's final
    validation; test runs count only where no training run exists. Null / NaN metrics are left out."""
    chosen: dict[tuple, Run] = {}
    for run in runs:
        if not run.complete:
            continue
        key = (run.config, run.seed)
        if key not in chosen or (chosen[key].source == 'test' and run.source == 'train'):
            chosen[key] = run
    out = []
    for (config, seed), run in chosen.items():
        for metric, key in METRIC_KEYS.items():
            value = run.metrics.get(key)
            if value is not None and not math.isnan(value):
                out.append(dict(config=config, seed=seed, metric=metric, value=PERCENT * value))
    return pd.DataFrame(out, columns=['config', 'seed', 'metric', 'value'])


def run_status(runs: list[Run]) -> dict[str, str]:
    """Per config: 'complete' when at least one run is, else the furthest 'incomplete k/N'; absent: missing."""
    out: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: (r.complete, r.iters or 0)):
        out[run.config] = run.status
    return out


def results(runs: list[Run], rows: pd.DataFrame) -> pd.DataFrame:
    """``results.csv``: per (table row, metric) the paper's value and mean, sample std, n, min, max over
    seeds of the complete runs, delta = mean - paper, and the row's status and seeds."""
    values = final_values(runs)
    status = run_status(runs)
    grouped = values.groupby(['config', 'metric']).value
    agg = grouped.agg(['mean', 'std', 'count', 'min', 'max']).rename(columns={'count': 'n'})
    seeds = values.groupby(['config', 'metric']).seed.agg(lambda s: ','.join(str(int(x)) for x in sorted(s)))
    out = []
    for _, row in rows.iterrows():
        for metric in METRICS:
            key = (row.config, metric)
            stats_ = agg.loc[key] if key in agg.index else None
            n = int(stats_['n']) if stats_ is not None else 0
            mean = float(stats_['mean']) if n else math.nan
            out.append({**{k: row[k] for k in KEYS}, 'config': row.config, 'metric': metric, 'paper': row[metric],
                        'mean': mean, 'std': float(stats_['std']) if n > 1 else math.nan, 'n': n,
                        'delta': mean - row[metric] if n else math.nan,
                        'min': float(stats_['min']) if n else math.nan,
                        'max': float(stats_['max']) if n else math.nan,
                        'status': status.get(row.config, 'missing'), 'seeds': seeds.get(key, '')})
    return pd.DataFrame(out, columns=RESULT_COLUMNS + ['min', 'max', 'status', 'seeds'])


# ------------------------------------------------------------------------------------------ statistics


def smallest_sign_test_p(n: int) -> float:
    """The smallest two-sided p-value a sign test on ``n`` pairs can give (all n in one direction)."""
    return float(stats.binomtest(n, n, 0.5).pvalue) if n else 1.0


def seeds_needed(alpha: float = SIGN_TEST_ALPHA) -> int:
    """The fewest pairs with which a two-sided sign test can reach p < ``alpha`` (6 for 0.05)."""
    n = 1
    while smallest_sign_test_p(n) >= alpha:
        n += 1
    return n


def paired_stats(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Paired comparison of ``a`` and ``b`` (same seeds, same order).

    - ``mean_diff``: mean of a - b; ``ci_low`` / ``ci_high``: the ``confidence`` t-interval of that mean
      (scipy's t distribution, n - 1 degrees of freedom; NaN with fewer than 2 pairs);
    - ``p_improvement``: the probability of improvement, here simply the fraction of seeds on which a
      scores higher than b (a tie counts as half);
    - ``sign_p``: two-sided sign test of the wins (ties dropped); ``min_sign_p``: the smallest p-value a
      sign test can reach with this many pairs, so the reader sees when n is too small for any claim;
    - ``wins`` / ``ties``: seeds with a > b / a == b.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = int(d.size)
    out = dict(n_pairs=n, mean_diff=math.nan, ci_low=math.nan, ci_high=math.nan, p_improvement=math.nan,
               sign_p=math.nan, min_sign_p=smallest_sign_test_p(n), wins=int(np.sum(d > 0)), ties=int(np.sum(d == 0)))
    if n == 0:
        return out
    mean = float(d.mean())
    out.update(mean_diff=mean, p_improvement=(out['wins'] + 0.5 * out['ties']) / n)
    if n >= 2:
        sem = float(d.std(ddof=1)) / math.sqrt(n)
        low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem) if sem > 0 else (mean, mean)
        out.update(ci_low=float(low), ci_high=float(high))
    decided = d[d != 0]
    out['sign_p'] = float(stats.binomtest(int(np.sum(decided > 0)), decided.size, 0.5).pvalue) if decided.size else 1.0
    return out


def claim_note(n: int, ci_low: float = math.nan, ci_high: float = math.nan) -> str:
    """What ``n`` paired seeds allow one to say, in words."""
    if n == 0:
        return 'no paired seeds: no comparison'
    need = seeds_needed()
    if n < 2:
        return f'1 paired seed: no interval; a two-sided sign test needs >= {need} seeds for p < 0.05'
    parts = []
    if smallest_sign_test_p(n) >= SIGN_TEST_ALPHA:
        parts.append(f'{n} seeds: a two-sided sign test cannot reach p < 0.05 (smallest p '
                     f'{smallest_sign_test_p(n):.3f}; needs >= {need} seeds)')
    if not (math.isnan(ci_low) or math.isnan(ci_high)):
        parts.append('95% interval includes 0: no separation' if ci_low <= 0 <= ci_high
                     else '95% interval excludes 0')
    return '; '.join(parts)


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


def comparisons(runs: list[Run], rows: pd.DataFrame) -> pd.DataFrame:
    """``comparisons.csv``: per pair of table rows and metric, the paired statistics over the seeds both
    configs completed (percent points), the paper's difference and a note on what n allows."""
    values = final_values(runs)
    by = {k: g.set_index('seed').value for k, g in values.groupby(['config', 'metric'])}
    paper = paper_table()
    out = []
    for a, b in comparison_pairs(rows):
        for metric in METRICS:
            va, vb = by.get((a.config, metric)), by.get((b.config, metric))
            seeds = sorted(set(va.index) & set(vb.index)) if va is not None and vb is not None else []
            s = paired_stats([va[k] for k in seeds], [vb[k] for k in seeds])
            out.append(dict(table=a.table, dataset=a.dataset, pretraining=a.pretraining, metric=metric,
                            a_config=a.config, b_config=b.config, **s,
                            paper_diff=_paper_diff(a, b, metric, paper), backbone=a.backbone,
                            a_row=f'{a.method} {a.variant}'.strip(), b_row=f'{b.method} {b.variant}'.strip(),
                            seeds=','.join(str(int(k)) for k in seeds),
                            note=claim_note(s['n_pairs'], s['ci_low'], s['ci_high'])))
    extra = ['sign_p', 'min_sign_p', 'wins', 'ties', 'paper_diff', 'backbone', 'a_row', 'b_row', 'seeds', 'note']
    return pd.DataFrame(out, columns=COMPARISON_COLUMNS + extra)


def unused_runs(runs: list[Run], rows: pd.DataFrame) -> list[Run]:
    """Runs of configs that no selected table row knows: reported, never silently dropped."""
    known = set(rows.config)
    return [r for r in runs if r.config not in known]
