"""mmengine's ``LoggerHook``, writing a test run's ``<timestamp>/<timestamp>.json`` whole and with its integers."""
from __future__ import annotations

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook

from tapps_mm.registry import HOOKS


@HOOKS.register_module()
class NumpyScalarLoggerHook(LoggerHook):
    """``LoggerHook`` whose metrics file keeps numpy scalars as numbers and is written by one process.

    mmengine 0.10.7's ``_process_tags`` keeps only Python scalars, so the message hub's form of an integer
    metric (``pps/num_images``, ``pps/n``: a numpy integer) was written as ``null``; and every rank of a
    distributed test dumps the same file at once, which can leave two JSON documents in it (seen with
    ``slurm_test.sh`` on 2 processes). The metrics are the same on every rank: the main process writes them."""

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        if is_main_process():
            super().after_test_epoch(runner, metrics)

    @staticmethod
    def _process_tags(tags: dict):
        return LoggerHook._process_tags({k: v.item() if isinstance(v, np.generic) else v for k, v in tags.items()})
