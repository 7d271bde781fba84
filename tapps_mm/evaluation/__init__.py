"""PartPQ / PartSQ / PQ / mIoU evaluation: numpy core, file-level API and the mmengine metric.

The metric (``tapps_mm.evaluation.metrics``) needs mmengine; this package itself does not.
"""
from tapps_mm.evaluation.evaluate import evaluate_pps, pair_files
from tapps_mm.evaluation.partpq import PartPQEvaluator, PPSStats
from tapps_mm.fileio import write_json_atomic

__all__ = ['PPSStats', 'PartPQEvaluator', 'evaluate_pps', 'pair_files', 'write_json_atomic']
