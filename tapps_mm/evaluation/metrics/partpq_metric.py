"""PartPQ / PartSQ / PQ / mIoU as an mmengine metric (mmdet's CocoPanopticMetric pattern):
per-image statistics in ``process()``, summed in ``compute_metrics()`` on rank 0 after mmengine has
gathered every rank's results, so distributed evaluation gives the single-process numbers."""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Any, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from tapps_mm.evaluation.partpq import PartPQEvaluator
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.evaluation.prediction_folder import PREDICTIONS, finish, write_json_hashed
from tapps_mm.pps_format import check_image_id, image_file, prediction_array, read_label, write_prediction
from tapps_mm.registry import METRICS
from tapps_mm.specs import load_spec


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@METRICS.register_module()
class PartPQMetric(BaseMetric):
    """Part-aware panoptic quality, with the official panoptic_parts numbers.

    Each data sample must carry ``pps_label_path`` (the official GT uid .tif, scored at its own
    resolution) and ``pred_pps`` (the 3-channel prediction [eval sid or 255, instance id, pid or 255]
    at that resolution). Optional: ``pps_image_id`` (default: the label file's stem) and
    ``pred_pps_conflicts`` (one bool per predicted object of a parts class, True where the part
    predictions conflicted with the object; gives 'obj_without_conflicts', the paper's Table 3, over
    'obj_without_conflicts_n' objects; None when that count is 0).

    Args:
        spec: spec name or eval-spec YAML; it defines the classes and parts. Default: the evaluated dataset's
            (its metainfo ``spec``, which mmengine's loops hand the metric as ``dataset_meta``), so that a config
            names the spec once, in its dataset.
        format_only / outfile_prefix: like mmdet's metrics; ``outfile_prefix`` writes the prediction
            PNGs + images.json in the official format (re-score with the official tool) and the full
            results (incl. per class) to ``<outfile_prefix>/pps_results.json``, then a ``manifest.json``
            listing every file with its SHA-256 (:mod:`~tapps_mm.evaluation.prediction_folder`). Image ids
            name the PNGs, so an id that is not a plain file name is an error.
        outfile_run: the run that claimed ``outfile_prefix`` (``tools/test.py --out``); the manifest is
            refused if another run claimed the folder meanwhile.
        undefined_pids: 'unlabelled' (default, as in training) or 'official'; see
            :data:`tapps_mm.evaluation.partpq.UNDEFINED_PIDS`.
        per_image_file: where to keep the per-image statistics of each evaluation
            (:mod:`tapps_mm.evaluation.per_image`); :class:`~tapps_mm.engine.PerImageStatsHook` sets it in
            the run's work dir. Summing the file's rows gives the reported numbers exactly.
    """

    default_prefix = 'pps'

    def __init__(self, spec: str | None = None, outfile_prefix: str | None = None, format_only: bool = False,
                 collect_device: str = 'cpu', prefix: str | None = None, undefined_pids: str = 'unlabelled',
                 per_image_file: str | None = None, outfile_run: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.undefined_pids = undefined_pids
        self.spec, self.evaluator = None, None
        self._own_spec = spec is not None
        if spec is not None:
            self._use_spec(spec)
        self.outfile_prefix = outfile_prefix
        self.format_only = format_only
        self.per_image_file = per_image_file
        self.outfile_run = outfile_run
        if format_only and not outfile_prefix:
            raise ValueError('PartPQMetric: format_only=True needs outfile_prefix (where to write predictions).')

    def _use_spec(self, spec: str) -> None:
        self.spec = load_spec(spec)
        self.evaluator = PartPQEvaluator(self.spec, self.undefined_pids)

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """mmengine's setter; the dataset's spec unless the metric was given its own."""
        BaseMetric.dataset_meta.fset(self, dataset_meta)
        if not self._own_spec and (dataset_meta or {}).get('spec'):
            self._use_spec(dataset_meta['spec'])

    def _write_png(self, image_id: str, pred: np.ndarray, source: str) -> str:
        """Write one prediction PNG; returns its SHA-256 for the folder's manifest."""
        folder = osp.join(self.outfile_prefix, PREDICTIONS)
        os.makedirs(folder, exist_ok=True)
        return write_prediction(image_file(folder, image_id, '.png', source), pred)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in ('pps_label_path', 'pred_pps'):
                if key not in sample:
                    raise KeyError(f'PartPQMetric: data sample of {sample.get("img_path", "?")} has no {key!r}')
            label_path = sample['pps_label_path']
            image_id = check_image_id(sample.get('pps_image_id') or osp.splitext(osp.basename(label_path))[0],
                                      f'data sample of {label_path}')
            pred = prediction_array(sample['pred_pps'])
            conflicts = np.asarray(_to_numpy(sample.get('pred_pps_conflicts', [])), bool).reshape(-1)
            png_sha256 = self._write_png(image_id, pred, label_path) if self.outfile_prefix else None
            stats = None
            if not self.format_only:
                if self.evaluator is None:
                    raise ValueError('PartPQMetric: no spec: evaluate a PPS dataset (its metainfo names the spec) '
                                     'or set `spec`')
                stats = self.evaluator.image_stats(read_label(label_path), pred, label_path,
                                                   f'prediction for {image_id}')
            self.results.append({'image_id': image_id, 'stats': stats, 'png_sha256': png_sha256,
                                 'num_objects': int(conflicts.size), 'num_conflicts': int(conflicts.sum())})

    def compute_metrics(self, results: list) -> dict[str, float | int | None]:
        logger = MMLogger.get_current_instance()
        written = {f'{PREDICTIONS}/{r["image_id"]}.png': r['png_sha256'] for r in results}
        if self.outfile_prefix:
            images = [{'id': r['image_id'], 'file_name': f'{r["image_id"]}.png'} for r in results]
            written['images.json'] = write_json_hashed({'images': images},
                                                       osp.join(self.outfile_prefix, 'images.json'))
        if self.format_only:
            if self.outfile_prefix:
                finish(self.outfile_prefix, self.outfile_run, written)
                logger.info(f'PPS predictions written to {self.outfile_prefix} (official format)')
            return {}
        # the reported numbers are the sums of exactly the rows the per-image file keeps (sorted by image id,
        # so every world size sums in one order)
        per_image = PerImageStats.from_images([r['image_id'] for r in results], [r['stats'] for r in results],
                                              [r['num_objects'] for r in results],
                                              [r['num_conflicts'] for r in results], self.spec.name)
        res = self.evaluator.summarize(per_image.total())
        # over the predicted objects of parts classes; None (JSON null) when there are none, with the count
        # beside it, so every results file stays valid JSON and a table can leave the cell empty
        num_objects, num_conflicts = per_image.objects()
        res['obj_without_conflicts'] = 1.0 - num_conflicts / num_objects if num_objects else None
        res['obj_without_conflicts_n'] = num_objects
        if self.per_image_file:
            per_image.save(self.per_image_file)
            logger.info(f'per-image statistics of {len(per_image)} images written to {self.per_image_file}')
        if self.outfile_prefix:
            written['pps_results.json'] = write_json_hashed(res, osp.join(self.outfile_prefix, 'pps_results.json'))
            finish(self.outfile_prefix, self.outfile_run, written)
            logger.info(f'PPS predictions and results written to {self.outfile_prefix} (official format)')
        logger.info('PPS results:\n' + json.dumps({k: v for k, v in res.items() if k != 'per_class'}, indent=1))
        return {k: v for k, v in res.items() if k != 'per_class'}
