"""Keep the per-image statistics of every evaluation in the run's work dir.

Why a hook: a metric does not know the run it serves; this hook tells each :class:`PartPQMetric` of the
val and test evaluators where to write (:mod:`tapps_mm.evaluation.per_image`):

- validation: ``<work_dir>/per_image_stats/iter_<iteration>.npz`` (the final one is what the results
  pipeline resamples; a resumed run rewrites the evaluations it repeats);
- test: ``<work_dir>/<timestamp>/per_image_stats.npz``, beside the test's ``<timestamp>.json``.
"""
from __future__ import annotations

import os.path as osp

from mmengine.hooks import Hook

from tapps_mm.evaluation.per_image import TEST_FILE, val_file
from tapps_mm.registry import HOOKS


def _part_metrics(loop):
    from tapps_mm.evaluation.metrics import PartPQMetric
    evaluator = getattr(loop, 'evaluator', None)
    return [m for m in getattr(evaluator, 'metrics', []) if isinstance(m, PartPQMetric)]


@HOOKS.register_module()
class PerImageStatsHook(Hook):
    """Point the PartPQ metrics at the run's per-image statistics files (see the module docstring)."""

    priority = 'LOW'

    def before_val_epoch(self, runner) -> None:
        for metric in _part_metrics(runner.val_loop):
            metric.per_image_file = val_file(runner.work_dir, runner.iter)

    def before_test_epoch(self, runner) -> None:
        for metric in _part_metrics(runner.test_loop):
            metric.per_image_file = osp.join(runner.log_dir, TEST_FILE)
