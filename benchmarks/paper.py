"""The paper's tables as data, and which config trains each TAPPS / baseline row.

``paper_tables.csv`` holds the numbers as printed in the TAPPS paper (CVPR 2024), one row per table row
(``table, dataset, backbone, pretraining, method, variant`` + metrics, percentages). ``CONFIG_ROWS``
is the one place that says which config reproduces which rows; the metafiles, the per-folder READMEs
and the table reproduction all read it.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass

import pandas as pd

PAPER_CSV = osp.join(osp.dirname(osp.abspath(__file__)), 'paper_tables.csv')
KEYS = ['table', 'dataset', 'backbone', 'pretraining', 'method', 'variant']
METRICS = ['PartPQ_All', 'PartPQ_Pt', 'PartPQ_NoPt', 'PartSQ_Pt', 'PQ_All', 'PQ_Th', 'PQ_St', 'mIoU_Th',
           'obj_without_conflicts']
# The one mapping from the paper's metric names (percent) to the keys PartPQMetric reports (fractions; logged
# with the evaluator prefix 'pps/'). The metric never learns the paper's names.
METRIC_KEYS = {'PartPQ_All': 'PartPQ', 'PartPQ_Pt': 'PartPQ_parts', 'PartPQ_NoPt': 'PartPQ_noparts',
               'PartSQ_Pt': 'PartSQ_parts', 'PQ_All': 'PQ', 'PQ_Th': 'PQ_th', 'PQ_St': 'PQ_st', 'mIoU_Th': 'mIoU_th',
               'obj_without_conflicts': 'obj_without_conflicts'}
PERCENT = 100.0  # paper value = PERCENT * metric value
#: the metric a table is read by first: its per-seed table and the sign check against the paper (Table 5 reports
#: things only); Holm's family is every metric of a table's comparisons (benchmarks.aggregate.with_holm)
PRIMARY_METRIC = {'5': 'PQ_Th'}
DEFAULT_PRIMARY_METRIC = 'PartPQ_All'
#: a full-scale cell "reproduces" the paper's number when an equivalence test (two one-sided t-tests over
#: seeds) puts its mean within +- this many points; declared before any full-scale run was collected
EQUIVALENCE_MARGIN = {m: 1.0 for m in METRICS} | {'obj_without_conflicts': 2.0}
assert list(METRIC_KEYS) == METRICS


def primary_metric(table_number: str) -> str:
    """The metric a table is read by first ('3' for Table 3 and 3-toy)."""
    return PRIMARY_METRIC.get(table_number, DEFAULT_PRIMARY_METRIC)
TRAINED_METHODS = ('tapps', 'baseline')  # the rows our configs train (Table 2 also lists other methods)
#: the metrics a method without parts reports (the plain Mask2Former control of the toy tables): its objects;
#: PartPQ of the no-parts classes is their PQ. The part metrics of its predictions (every pixel 'no part') are
#: left out of every cell rather than shown as a score.
OBJECT_METRICS = ('PartPQ_NoPt', 'PQ_All', 'PQ_Th', 'PQ_St', 'mIoU_Th')
METHODS_WITHOUT_PARTS = ('mask2former',)


def reports(method: str, metric: str) -> bool:
    """Whether a table row of ``method`` reports ``metric``."""
    return method not in METHODS_WITHOUT_PARTS or metric in OBJECT_METRICS


@dataclass(frozen=True)
class ConfigRows:
    """The rows of one config: its setting and, per table, the row's ``variant`` text."""
    dataset: str
    backbone: str
    pretraining: str
    method: str
    variants: dict[str, str]  # table -> variant ('' for the plain row)

    def keys(self) -> list[tuple[str, ...]]:
        return [(t, self.dataset, self.backbone, self.pretraining, self.method, v) for t, v in self.variants.items()]


#: the row text of each ablation switch, keyed by the switch's name in the config names (``-nocompat``,
#: ``-adapt0``, ...): the one home of these strings, which join our configs to the paper's rows
VARIANT = {'compat': 'compat train yes / test yes', 'nocompat': 'compat train no / test no',
           'nocompat-train': 'compat train no / test yes', 'adapt0': 'adaptation none', 'adapt1': 'adaptation 1xFC',
           'adapt2': 'adaptation 2-layer MLP', 'adapt3': 'adaptation 3-layer MLP', 'fixed': 'fixed part queries',
           'dynparts': 'dynamic part queries'}
#: Tables 3, 4 and 7: the plain TAPPS config's row, against which each ablation row is compared
REFERENCE_VARIANT = {'3': VARIANT['compat'], '4': VARIANT['adapt2'], '7': VARIANT['fixed']}
CONFIG_ROWS: dict[str, ConfigRows] = {
    # Cityscapes-PP
    'tapps_r50_4xb4-90k_cityscapes-pp': ConfigRows('cityscapes-pp', 'R50', 'IN', 'tapps', {'1b': '', '2': '', '5': ''}),
    'tapps_r50-cocopan_4xb4-90k_cityscapes-pp': ConfigRows('cityscapes-pp', 'R50', 'IN+COCO', 'tapps',
                                                           {'1b': '', '2': ''}),
    'tapps_swin-b-p4-w12-384-in21k-cocopan_4xb4-90k_cityscapes-pp': ConfigRows('cityscapes-pp', 'Swin-B', 'IN+COCO',
                                                                               'tapps', {'2': ''}),
    'baseline_r50_4xb4-90k_cityscapes-pp': ConfigRows('cityscapes-pp', 'R50', 'IN', 'baseline', {'1b': '', '5': ''}),
    'baseline_r50-cocopan_4xb4-90k_cityscapes-pp': ConfigRows('cityscapes-pp', 'R50', 'IN+COCO', 'baseline',
                                                              {'1b': ''}),
    # Pascal-PP
    'tapps_r50_4xb4-60k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN', 'tapps',
                                               {'1a': '', '2': '', '3': VARIANT['compat'], '5': ''}),
    'tapps_r50-cocopan_4xb4-10k_pascal-pp': ConfigRows(
        'pascal-pp', 'R50', 'IN+COCO', 'tapps',
        {'1a': '', '2': '', **REFERENCE_VARIANT}),
    'tapps_swin-b-p4-w12-384-in21k-cocopan_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'Swin-B', 'IN+COCO', 'tapps',
                                                                           {'2': ''}),
    'tapps_r50-nocompat_4xb4-60k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN', 'tapps',
                                                        {'3': VARIANT['nocompat']}),
    'tapps_r50-nocompat-train_4xb4-60k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN', 'tapps',
                                                              {'3': VARIANT['nocompat-train']}),
    'tapps_r50-cocopan-nocompat_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN+COCO', 'tapps',
                                                                {'3': VARIANT['nocompat']}),
    'tapps_r50-cocopan-nocompat-train_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN+COCO', 'tapps',
                                                                      {'3': VARIANT['nocompat-train']}),
    'tapps_r50-cocopan-adapt0_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN+COCO', 'tapps',
                                                              {'4': VARIANT['adapt0']}),
    'tapps_r50-cocopan-adapt1_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN+COCO', 'tapps',
                                                              {'4': VARIANT['adapt1']}),
    'tapps_r50-cocopan-adapt3_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN+COCO', 'tapps',
                                                              {'4': VARIANT['adapt3']}),
    'tapps_r50-cocopan-dynparts_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN+COCO', 'tapps',
                                                                {'7': VARIANT['dynparts']}),
    'baseline_r50_4xb4-60k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN', 'baseline', {'1a': '', '3': '', '5': ''}),
    'baseline_r50-cocopan_4xb4-10k_pascal-pp': ConfigRows('pascal-pp', 'R50', 'IN+COCO', 'baseline',
                                                          {'1a': '', '3': ''}),
    # Pascal-PP-107
    'tapps_r50_4xb4-60k_pascal-pp107': ConfigRows('pascal-pp-107', 'R50', 'IN', 'tapps', {'6': ''}),
    'tapps_r50-cocopan_4xb4-10k_pascal-pp107': ConfigRows('pascal-pp-107', 'R50', 'IN+COCO', 'tapps', {'6': ''}),
    'baseline_r50_4xb4-60k_pascal-pp107': ConfigRows('pascal-pp-107', 'R50', 'IN', 'baseline', {'6': ''}),
    'baseline_r50-cocopan_4xb4-10k_pascal-pp107': ConfigRows('pascal-pp-107', 'R50', 'IN+COCO', 'baseline', {'6': ''}),
}


def paper_table() -> pd.DataFrame:
    """All rows of the paper's tables (missing values NaN, ``variant`` '' when empty)."""
    return pd.read_csv(PAPER_CSV, dtype={'table': str}).fillna({'variant': ''})


def paper_results(config: str, table: pd.DataFrame | None = None) -> dict[str, float]:
    """The paper's numbers for ``config`` (a config stem), merged over its tables.

    Raises if a row is missing from the paper's data or two tables disagree on a metric."""
    table = paper_table() if table is None else table
    merged: dict[str, float] = {}
    for key in CONFIG_ROWS[config].keys():
        rows = table[(table[KEYS] == pd.Series(dict(zip(KEYS, key)))).all(axis=1)]
        if len(rows) != 1:
            raise KeyError(f'{config}: {len(rows)} rows of the paper match {key}')
        for metric in METRICS:
            value = rows.iloc[0][metric]
            if pd.isna(value):
                continue
            if metric in merged and merged[metric] != value:
                raise ValueError(f'{config}: {metric} is {merged[metric]} in one table and {value} in table {key[0]}')
            merged[metric] = float(value)
    return {m: merged[m] for m in METRICS if m in merged}
