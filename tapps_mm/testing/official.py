"""Run the official panoptic_parts PartPQ evaluator in-process (the test oracle and benchmark baseline).

``evaluate_single_core`` is the official per-process loop; we call it directly because the official
multi-core entry point asks on stdin, prints, and crashes on fewer than 5 images per process.
"""
from __future__ import annotations

import contextlib
import io

from tapps_mm.compat import import_panoptic_parts
from tapps_mm.specs import PPSSpec


@contextlib.contextmanager
def _spec_parsed_once():
    """For the duration of one official run, its dense (sid, pid) map is derived once instead of once per image.

    The official ``annotation_parsing`` re-derives it from the same spec for every image (Pascal-PP and the
    grouped Cityscapes-PP spec: a quadratic check of about 2 s an image), which made the oracle tests of many
    small images the slowest of the suite. The official function still computes it; the same dict comes
    back for the same spec object. Scoped to the block and restored after it; never used by the benchmarks,
    which time the official tool as it is."""
    from panoptic_parts.utils import evaluation_PartPQ as official
    original = official.parse_dataset_sid_pid2eval_sid_pid
    parsed: dict[int, tuple[dict, dict]] = {}

    def once(mapping: dict) -> dict:
        if id(mapping) not in parsed:
            parsed[id(mapping)] = (mapping, original(mapping))  # the mapping kept alive: its id stays its own
        return parsed[id(mapping)][1]

    official.parse_dataset_sid_pid2eval_sid_pid = once
    try:
        yield
    finally:
        official.parse_dataset_sid_pid2eval_sid_pid = original


def official_class_stats(spec: PPSSpec, pairs: list[tuple[str, str]], parse_spec_once: bool = False
                         ) -> dict[int, dict]:
    """Official per-class sums {eval sid: {iou, tp, fp, fn}} over (gt .tif, pred .png) pairs.

    Needs at least 5 pairs (the official progress print divides by ``len(pairs) // 5``). ``parse_spec_once``:
    the tests' oracle; the same numbers without the official per-image re-parsing of the spec
    (:func:`_spec_parsed_once`).
    """
    import_panoptic_parts()
    from panoptic_parts.evaluation.eval_PartPQ import pred_reader_fn
    from panoptic_parts.utils.evaluation_PartPQ import evaluate_single_core
    parsing = _spec_parsed_once() if parse_spec_once else contextlib.nullcontext()
    with contextlib.redirect_stdout(io.StringIO()), parsing:
        stat = evaluate_single_core(0, pairs, pred_reader_fn, spec.official)
    out = {}
    for cat_id, sid in enumerate(spec.official.eval_sid_total):
        s = stat.pq_per_cat[cat_id]
        out[int(sid)] = {'iou': float(s.iou), 'tp': int(s.tp), 'fp': int(s.fp), 'fn': int(s.fn)}
    return out, stat


def official_summary(spec: PPSSpec, stat) -> dict:
    """The official ``pq_average`` (raises ZeroDivisionError where the official code does)."""
    avg, per_class = stat.pq_average(spec.official.cat_definition)
    res = {}
    for d in avg:
        res.update({k: v for k, v in d.items()})
    return res


def class_stats_of(stats, spec: PPSSpec) -> dict[int, dict]:
    """Our ``PPSStats`` in the same shape as ``official_class_stats``."""
    return {int(sid): {'iou': float(stats.part_iou[i]), 'tp': int(stats.tp[i]), 'fp': int(stats.fp[i]),
                       'fn': int(stats.fn[i])} for i, sid in enumerate(spec.classes)}


__all__ = ['official_class_stats', 'official_summary', 'class_stats_of']
