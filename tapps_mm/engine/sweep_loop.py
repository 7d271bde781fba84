"""A test loop that evaluates several fusion-head settings on one forward pass per batch.

Why: whether a method loses objects at inference (query scores under ``test_cfg.object_mask_thr``, or segments
that the mask filter ``test_cfg.iou_thr`` drops) is answered by re-running only the fusion head, which is cheap,
with each setting; the backbone and the transformer head, which are not, run once. Everything else is mmengine's
``TestLoop`` as ``tools/test.py`` runs it (the runner loads the checkpoint, the hooks run: EMAHook's swap,
CheckpointMatchHook's check), so the default setting gives exactly the numbers of ``tools/test.py``.

Each setting has its own evaluator of the config's ``PartPQMetric`` (without ``outfile_prefix``: the settings
would write one folder), which keeps its per-image statistics in ``<out_dir>/<setting name>.npz``
(:mod:`tapps_mm.evaluation.per_image`). The loop returns the default setting's metrics (what the runner logs);
:attr:`InferenceSweepLoop.summary` holds every setting's, on the main process.
"""
from __future__ import annotations

import contextlib
import copy
import os.path as osp
from typing import Iterator, Sequence

import numpy as np
import torch
from mmengine.dist import all_gather_object, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, autocast
from mmengine.utils import ProgressBar

from tapps_mm.evaluation.metrics import PartPQMetric
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.registry import LOOPS


@contextlib.contextmanager
def fusion_test_cfg(head: torch.nn.Module, changes: dict) -> Iterator[None]:
    """The fusion head's ``test_cfg`` with ``changes`` for the duration (a copy: the config's stays as it was)."""
    saved = head.test_cfg
    test_cfg = copy.deepcopy(saved)
    test_cfg.update(changes)
    head.test_cfg = test_cfg
    try:
        yield
    finally:
        head.test_cfg = saved


def _part_pq_metric_cfg(evaluator_cfg) -> dict:
    """The config's PartPQMetric, without prediction files (each setting would write the same folder)."""
    metrics = evaluator_cfg.get('metrics', evaluator_cfg) if isinstance(evaluator_cfg, dict) else evaluator_cfg
    metrics = metrics if isinstance(metrics, (list, tuple)) else [metrics]
    found = [m for m in metrics if isinstance(m, dict) and (m.get('type') is PartPQMetric
                                                            or str(m.get('type')).split('.')[-1] == 'PartPQMetric')]
    if not found:
        raise KeyError('test_evaluator: no PartPQMetric in the config (the sweep scores every setting with it)')
    metric = copy.deepcopy(dict(found[0]))
    metric.update(outfile_prefix=None, outfile_run=None, format_only=False)
    return metric


@LOOPS.register_module()
class InferenceSweepLoop(TestLoop):
    """mmengine's ``TestLoop``, with the fusion head run once per setting on each batch's head outputs.

    Args:
        settings: ``dict(name=..., changes={test_cfg key: value})`` per setting; the first is the default
            (``changes`` empty), whose metrics the loop returns.
        out_dir: where each setting's per-image statistics go (``<name>.npz``).
        progress: show a progress bar over the batches.
    """

    def __init__(self, runner, dataloader, evaluator, settings: Sequence[dict], out_dir: str, fp16: bool = False,
                 progress: bool = True) -> None:
        if not settings or settings[0].get('changes'):
            raise ValueError('InferenceSweepLoop: the first setting must be the default one (no changes)')
        names = [s['name'] for s in settings]
        if len(set(names)) != len(names):
            raise ValueError(f'InferenceSweepLoop: repeated setting names {names}')
        metric_cfg = _part_pq_metric_cfg(evaluator)
        self.settings = [dict(name=s['name'], changes=dict(s.get('changes') or {})) for s in settings]
        self.evaluators = [runner.build_evaluator(copy.deepcopy(metric_cfg)) for _ in self.settings]
        super().__init__(runner, dataloader, self.evaluators[0], fp16)  # the default's: what the hooks see
        head = getattr(self.detector, 'panoptic_fusion_head', None)
        if head is None or getattr(head, 'test_cfg', None) is None:
            raise KeyError(f'{type(self.detector).__name__}: no panoptic_fusion_head with a test_cfg (model.test_cfg)')
        for ev in self.evaluators[1:]:
            ev.dataset_meta = self.evaluator.dataset_meta
        self.out_dir = out_dir
        self.progress = progress
        self.summary: list[dict] = []
        self._thing_segments: list[dict[str, int]] = [{} for _ in self.settings]

    @property
    def detector(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def run(self) -> dict:
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        for setting, evaluator in zip(self.settings, self.evaluators):  # after PerImageStatsHook set the default's
            evaluator.metrics[0].per_image_file = self.per_image_file(setting['name'])
        self.runner.model.eval()
        bar = ProgressBar(len(self.dataloader)) if self.progress and is_main_process() else None
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
            if bar is not None:
                bar.update()
        results = [ev.evaluate(len(self.dataloader.dataset)) for ev in self.evaluators]
        counts = [self._gather(c) for c in self._thing_segments]
        if is_main_process():
            self.summary = [self._summarize(s, r, c) for s, r, c in zip(self.settings, results, counts)]
        self.runner.call_hook('after_test_epoch', metrics=results[0])
        self.runner.call_hook('after_test')
        return results[0]

    def per_image_file(self, name: str) -> str:
        return osp.join(self.out_dir, f'{name}.npz')

    @torch.no_grad()
    def run_iter(self, idx, data_batch) -> None:
        """As ``TestLoop.run_iter``, with ``PartAwareMask2Former.predict`` split: features and head once, the
        fusion head (and ``add_pred_to_datasample``, on a copy of the samples) per setting."""
        self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
        detector = self.detector
        head = detector.panoptic_fusion_head
        with autocast(enabled=self.fp16):
            data = detector.data_preprocessor(data_batch, False)
            samples = data['data_samples']
            feats = detector.extract_feat(data['inputs'])
            mask_cls, mask_pred, parts = detector.panoptic_head.predict(feats, samples)
            outputs = []
            for setting in self.settings:
                with fusion_test_cfg(head, setting['changes']):
                    results = head.predict(mask_cls, mask_pred, samples, rescale=True, parts=parts)
                outputs.append(detector.add_pred_to_datasample([s.new() for s in samples], results))
        for i, (evaluator, setting_outputs) in enumerate(zip(self.evaluators, outputs)):
            evaluator.process(data_samples=setting_outputs, data_batch=data_batch)
            self._count_thing_segments(i, setting_outputs)
        self.runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs[0])

    def _count_thing_segments(self, i: int, outputs) -> None:
        """Predicted thing segments per image (distinct (class, instance id) of a thing class in ``pred_pps``),
        keyed by the label file so that a distributed sampler's repeated images count once."""
        things = torch.as_tensor(self.evaluators[0].metrics[0].evaluator.things)
        for sample in outputs:
            pps = sample.pred_pps.data.long().cpu()
            in_thing = torch.isin(pps[0], things)
            self._thing_segments[i][sample.pps_label_path] = int(torch.unique(pps[0][in_thing] * 256
                                                                              + pps[1][in_thing]).numel())

    @staticmethod
    def _gather(counts: dict[str, int]) -> int:
        merged: dict[str, int] = {}
        for part in all_gather_object(counts):
            merged.update(part)
        return sum(merged.values())

    def _summarize(self, setting: dict, metrics: dict, num_thing_segments: int) -> dict:
        """One setting's numbers; the object counts from the per-image file it wrote (the rows its metrics sum)."""
        metric = self.evaluators[0].metrics[0]
        prefix = metric.prefix
        path = self.per_image_file(setting['name'])
        stats = PerImageStats.load(path).total()
        thing = metric.evaluator.label_is_thing

        def recall(tp: np.ndarray, fn: np.ndarray) -> float | None:
            found, missed = int(tp[thing].sum()), int(fn[thing].sum())
            return found / (found + missed) if found + missed else None

        return dict(name=setting['name'], changes=setting['changes'],
                    PartPQ=metrics[f'{prefix}/PartPQ'], PQ_th=metrics[f'{prefix}/PQ_th'],
                    thing_recall=recall(stats.tp, stats.fn), thing_tp=int(stats.tp[thing].sum()),
                    thing_fn=int(stats.fn[thing].sum()), thing_recall_pq=recall(stats.pq_tp, stats.pq_fn),
                    num_pred_thing_segments=num_thing_segments, per_image_file=osp.basename(path),
                    metrics={k.split('/', 1)[-1]: v for k, v in metrics.items()})
