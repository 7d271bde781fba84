"""The TAPPS detector: mmdet's Mask2Former with a part-aware head and PPS inference."""
from __future__ import annotations

from mmdet.models.detectors import Mask2Former
from mmengine.structures import PixelData
from torch import Tensor

from tapps_mm.registry import MODELS


@MODELS.register_module()
class TAPPS(Mask2Former):
    """Mask2Former whose ``panoptic_head`` also predicts parts (``JOPSHead``) and whose fusion head
    (``PPSFusionHead``) turns objects + parts into the official PPS prediction.

    ``predict`` fills, per data sample: ``pred_panoptic_seg`` (mmdet's panoptic output), ``pred_pps``
    (PixelData, uint8 [3, H, W]: eval sid or 255, instance id, pid or 255) and ``pred_pps_conflicts``
    (one flag per predicted object of a parts class) — what ``PartPQMetric`` consumes.
    """

    def predict(self, batch_inputs: Tensor, batch_data_samples, rescale: bool = True):
        feats = self.extract_feat(batch_inputs)
        mask_cls, mask_pred, queries, mask_features = self.panoptic_head.predict(feats, batch_data_samples)
        part_fns = [self._part_logits_fn(queries[b], mask_features[b]) for b in range(len(batch_data_samples))]
        results = self.panoptic_fusion_head.predict(mask_cls, mask_pred, batch_data_samples, rescale=rescale,
                                                    part_logits_fns=part_fns)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _part_logits_fn(self, queries: Tensor, mask_features: Tensor):
        head = self.panoptic_head
        return lambda q, p: head.part_mask_logits(queries[q], p, mask_features)

    def add_pred_to_datasample(self, data_samples, results_list):
        for sample, res in zip(data_samples, results_list):
            sample.pred_panoptic_seg = res['pan_results']
            sample.pred_pps = PixelData(data=res['pps'])
            sample.pred_pps_conflicts = res['pps_conflicts']
        return data_samples


@MODELS.register_module()
class SeparatePartsBaseline(TAPPS):
    """The paper's baseline: ``SeparatePartQueriesHead`` (objects + separate part queries) and
    ``PartMergeFusionHead`` (official merging rules); the same outputs as :class:`TAPPS`."""

    def predict(self, batch_inputs: Tensor, batch_data_samples, rescale: bool = True):
        feats = self.extract_feat(batch_inputs)
        mask_cls, mask_pred, part_cls, part_masks = self.panoptic_head.predict(feats, batch_data_samples)
        results = self.panoptic_fusion_head.predict(mask_cls, mask_pred, batch_data_samples, rescale=rescale,
                                                    part_cls_results=part_cls, part_mask_results=part_masks)
        return self.add_pred_to_datasample(batch_data_samples, results)
