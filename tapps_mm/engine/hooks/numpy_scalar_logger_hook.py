"""mmengine's ``LoggerHook``, keeping integer metrics in a test run's ``<timestamp>/<timestamp>.json``."""
from __future__ import annotations

import numpy as np
from mmengine.hooks import LoggerHook

from tapps_mm.registry import HOOKS


@HOOKS.register_module()
class NumpyScalarLoggerHook(LoggerHook):
    """``LoggerHook`` whose metrics file keeps numpy scalars as numbers.

    mmengine 0.10.7's ``_process_tags`` keeps only Python scalars, so the message hub's form of an integer
    metric (``pps/num_images``, ``pps/n``: a numpy integer) was written as ``null``."""

    @staticmethod
    def _process_tags(tags: dict):
        return LoggerHook._process_tags({k: v.item() if isinstance(v, np.generic) else v for k, v in tags.items()})
