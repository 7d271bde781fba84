"""Where two methods differ: per class, and by kind of error, from the per-image statistics each run kept.

- :func:`class_values`: per (config, seed, class) the official per-class numbers of ``PartPQEvaluator.summarize``
  on the run's summed per-image statistics (so the classes a table averages give back the table's numbers);
- :func:`class_comparison` (``per_class.csv``): per class, PartPQ and PQ of a and b (mean over seeds) and their
  paired difference with its t-interval (``uncertainty.CONFIDENCE``), parts classes and no-parts classes apart;
- :func:`error_decomposition` (``errors.csv``): per method and class group, the PartPQ TP / FP / FN counts
  and PartSQ over the matched segments, mean over seeds: whether a gain is fewer missed objects, fewer false
  ones or better part masks;
- :func:`size_band_values` / :func:`size_band_comparison` (``size_bands.csv``): per object size band (small,
  medium, large: COCO's, scaled to each image, :mod:`tapps_mm.evaluation.partpq`), band PQ and recall of the
  thing classes of a and b and their paired difference: whether a method loses small objects. Only from
  per-image files that hold the band arrays (files written before them are skipped, and said to be).

Statistics only, no model is run: the figures of the same comparisons, which run the models, are the stage
after this one (:mod:`benchmarks.predictions`).
"""
from __future__ import annotations

import os.path as osp

import numpy as np
import pandas as pd

from benchmarks.aggregate import chosen_runs, table_number
from benchmarks.collect import Run
from benchmarks.paper import PERCENT
from benchmarks.uncertainty import paired_stats
from tapps_mm.evaluation import PartPQEvaluator
from tapps_mm.evaluation.partpq import SIZE_BANDS, band_quality
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.specs import load_spec

GROUPS = {True: 'parts classes', False: 'no-parts classes'}
PER_CLASS_COLUMNS = ['table', 'group', 'class_id', 'name', 'a_config', 'b_config', 'n_pairs'] + [
    f'{m}_{k}' for m in ('PartPQ', 'PQ') for k in ('a', 'b', 'diff', 'low', 'high')]
ERROR_COLUMNS = ['config', 'group', 'TP', 'FP', 'FN', 'PartSQ_matched', 'seeds']
BAND_VALUE_COLUMNS = ['config', 'seed', 'band', 'TP', 'FP', 'FN', 'iou', 'n_gt', 'PQ', 'recall']
SIZE_BAND_COLUMNS = ['table', 'band', 'a_config', 'b_config', 'n_pairs', 'n_gt_a', 'n_gt_b'] + [
    f'{m}_{k}' for m in ('PQ', 'recall') for k in ('a', 'b', 'diff', 'low', 'high')]


def class_values(runs: list[Run], configs: list[str]) -> pd.DataFrame:
    """Long format: per (config, seed, class) of the chosen runs that kept per-image statistics, the class's
    PartPQ, PartSQ, PQ (percent), TP / FP / FN, the summed part IoU of its TPs, and whether a run's average
    counts it (``counted``: TP + FP + FN > 0, the official rule)."""
    out = []
    evaluators: dict[str, PartPQEvaluator] = {}
    for (config, seed), run in sorted(chosen_runs(runs).items()):
        if config not in configs or not run.per_image:
            continue
        kept = PerImageStats.load(osp.join(run.work_dir, run.per_image))
        if kept.spec not in evaluators:
            evaluators[kept.spec] = PartPQEvaluator(load_spec(kept.spec))
        evaluator = evaluators[kept.spec]
        stats = kept.total()
        per_class = evaluator.summarize(stats)['per_class']
        for label, (sid, entry) in enumerate(per_class.items()):
            tp, fp, fn = entry['TP'], entry['FP'], entry['FN']
            out.append(dict(config=config, seed=seed, class_id=int(sid), name=entry['name'],
                            group=GROUPS[bool(evaluator.label_has_parts[label])],
                            PartPQ=PERCENT * entry['PartPQ'], PartSQ=PERCENT * entry['PartSQ'],
                            PQ=PERCENT * entry['PQ'], TP=tp, FP=fp, FN=fn, part_iou=float(stats.part_iou[label]),
                            counted=tp + fp + fn > 0))
    return pd.DataFrame(out, columns=['config', 'seed', 'class_id', 'name', 'group', 'PartPQ', 'PartSQ', 'PQ', 'TP',
                                      'FP', 'FN', 'part_iou', 'counted'])


def class_comparison(values: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Per class counted in both configs' runs, PartPQ and PQ of ``a`` and ``b`` (mean over the seeds both
    kept) and the paired a - b with its 95 % t-interval; sorted by group, then by the PartPQ difference."""
    out = []
    for (group, class_id, name), rows in values.groupby(['group', 'class_id', 'name']):
        by = {c: rows[rows.config == c].set_index('seed') for c in (a, b)}
        seeds = sorted(set(by[a].index) & set(by[b].index))
        if not seeds or not (by[a].loc[seeds, 'counted'].any() or by[b].loc[seeds, 'counted'].any()):
            continue
        entry = dict(group=group, class_id=class_id, name=name, a_config=a, b_config=b, n_pairs=len(seeds))
        for metric in ('PartPQ', 'PQ'):
            va, vb = by[a].loc[seeds, metric], by[b].loc[seeds, metric]
            s = paired_stats(va.to_numpy(), vb.to_numpy())
            entry.update({f'{metric}_a': va.mean(), f'{metric}_b': vb.mean(), f'{metric}_diff': s['mean_diff'],
                          f'{metric}_low': s['ci_low'], f'{metric}_high': s['ci_high']})
        out.append(entry)
    frame = pd.DataFrame(out)
    return frame.sort_values(['group', 'PartPQ_diff'], ascending=[False, False], ignore_index=True) if len(frame) \
        else frame


def error_decomposition(values: pd.DataFrame) -> pd.DataFrame:
    """Per config and class group (counted classes), mean over seeds of the summed TP, FP, FN and of PartSQ
    over the matched segments (the summed part IoU of the TPs over their number, percent)."""
    counted = values[values.counted]
    per_seed = counted.groupby(['config', 'group', 'seed'])[['TP', 'FP', 'FN', 'part_iou']].sum()
    per_seed['PartSQ_matched'] = PERCENT * per_seed.part_iou / per_seed.TP.replace(0, np.nan)
    out = per_seed.groupby(['config', 'group'])[['TP', 'FP', 'FN', 'PartSQ_matched']].mean()
    out['seeds'] = per_seed.groupby(['config', 'group']).size()
    return out.reset_index()


def size_band_values(runs: list[Run], configs: list[str]) -> pd.DataFrame:
    """Long format: per (config, seed, band) of the chosen runs whose per-image statistics hold size bands, the
    TP / FP / FN and TP IoU sum over all thing classes (stuff has no band), ``n_gt`` = TP + FN, band PQ and
    recall (percent; NaN where the band is empty). Runs whose files predate size bands are left out and
    listed in ``attrs['predate_bands']`` (their work dirs), so a caller can say so."""
    out, predate = [], []
    for (config, seed), run in sorted(chosen_runs(runs).items()):
        if config not in configs or not run.per_image:
            continue
        kept = PerImageStats.load(osp.join(run.work_dir, run.per_image))
        if not kept.has_bands:
            predate.append(run.work_dir)
            continue
        stats = kept.total()
        tp, fp, fn, iou = (getattr(stats, f).sum(axis=0) for f in ('band_tp', 'band_fp', 'band_fn', 'band_iou'))
        pq, recall = band_quality(tp, fp, fn, iou)
        for b, band in enumerate(SIZE_BANDS):
            out.append(dict(config=config, seed=seed, band=band, TP=int(tp[b]), FP=int(fp[b]), FN=int(fn[b]),
                            iou=float(iou[b]), n_gt=int(tp[b] + fn[b]), PQ=PERCENT * pq[b],
                            recall=PERCENT * recall[b]))
    frame = pd.DataFrame(out, columns=BAND_VALUE_COLUMNS)
    frame.attrs['predate_bands'] = predate
    return frame


def size_band_comparison(values: pd.DataFrame, pairs: pd.DataFrame | list[tuple[str, str]]) -> pd.DataFrame:
    """Per pair (a, b) of configs and band, band PQ and recall of each (mean over the seeds both kept) and the
    paired a - b with its 95 % t-interval, as :func:`class_comparison` does per class. ``pairs``: (a, b)
    tuples, or a frame with ``a_config`` / ``b_config`` (and ``table``, copied to the output)."""
    if isinstance(pairs, pd.DataFrame):
        triples = [(getattr(p, 'table', ''), p.a_config, p.b_config) for p in pairs.itertuples()]
    else:
        triples = [('', a, b) for a, b in pairs]
    out = []
    for table, a, b in triples:
        for band in SIZE_BANDS:
            rows = values[values.band == band]
            by = {c: rows[rows.config == c].set_index('seed') for c in (a, b)}
            seeds = sorted(set(by[a].index) & set(by[b].index))
            if not seeds:
                continue
            entry = dict(table=table, band=band, a_config=a, b_config=b, n_pairs=len(seeds),
                         n_gt_a=by[a].loc[seeds, 'n_gt'].mean(), n_gt_b=by[b].loc[seeds, 'n_gt'].mean())
            for metric in ('PQ', 'recall'):
                va, vb = by[a].loc[seeds, metric].to_numpy(float), by[b].loc[seeds, metric].to_numpy(float)
                s = paired_stats(va, vb)
                entry.update({f'{metric}_a': va.mean(), f'{metric}_b': vb.mean(), f'{metric}_diff': s['mean_diff'],
                              f'{metric}_low': s['ci_low'], f'{metric}_high': s['ci_high']})
            out.append(entry)
    return pd.DataFrame(out, columns=SIZE_BAND_COLUMNS)


def _table_1_pairs(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The (table, a_config, b_config) of the method comparisons of Table 1 (each of its versions)."""
    of_table_1 = comparisons.table.map(lambda t: table_number(t) == '1')
    return comparisons[of_table_1][['table', 'a_config', 'b_config']].drop_duplicates()


def size_bands(runs: list[Run], comparisons: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """``size_bands.csv`` for the method comparisons of Table 1, and a one-line note: (None, why) where no
    run of them kept per-image statistics with size bands; the note also names runs left out because their
    files predate the bands."""
    pairs = _table_1_pairs(comparisons)
    if pairs.empty:
        return None, 'size_bands.csv not written: no Table 1 comparison among the collected runs'
    values = size_band_values(runs, sorted(set(pairs.a_config) | set(pairs.b_config)))
    predate = values.attrs['predate_bands']
    older = f'{len(predate)} run(s) whose per-image statistics predate size bands (e.g. {predate[0]})' \
        if predate else ''
    table = size_band_comparison(values, pairs)
    if table.empty:
        return None, 'size_bands.csv not written: ' + (f'{older}; no pair of runs has them' if older else
                                                        'no run of Table 1 kept per-image statistics')
    return table, f'size_bands.csv without {older}' if older else ''


def where_they_differ(runs: list[Run], comparisons: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``per_class.csv`` and ``errors.csv`` for the method comparisons of Table 1 (each of its versions: TAPPS
    vs the baseline of the same setting); empty frames where no run kept per-image statistics."""
    pairs = _table_1_pairs(comparisons)
    empty = pd.DataFrame(columns=PER_CLASS_COLUMNS), pd.DataFrame(columns=ERROR_COLUMNS)
    if pairs.empty:
        return empty
    values = class_values(runs, sorted(set(pairs.a_config) | set(pairs.b_config)))
    tables = [class_comparison(values, p.a_config, p.b_config).assign(table=p.table) for p in pairs.itertuples()]
    tables = [t for t in tables if len(t)]
    if not tables:
        return empty
    return pd.concat(tables, ignore_index=True)[PER_CLASS_COLUMNS], error_decomposition(values)[ERROR_COLUMNS]

