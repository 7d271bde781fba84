"""The one detector of TAPPS, its dynamic-parts variant, the baseline and the plain Mask2Former of PPS:
mmdet's Mask2Former whose heads also predict parts (or, the plain one, no parts). The methods differ by
``panoptic_head`` and ``panoptic_fusion_head`` in the config."""
from __future__ import annotations

from mmdet.models.detectors import Mask2Former
from mmengine.structures import PixelData
from torch import Tensor

from tapps_mm.registry import MODELS


@MODELS.register_module()
class PartAwareMask2Former(Mask2Former):
    """Mask2Former with a part-aware head and a PPS fusion head.

    The contract between them (``tapps_mm.structures.part_outputs``): ``panoptic_head.predict`` returns the
    object outputs and one part-output structure (``None`` from a head without part branch), which
    ``panoptic_fusion_head.predict`` turns into, per data sample, ``pred_pps`` (PixelData, uint8 [3, H, W]:
    eval sid or 255, instance id, pid or 255) and ``pred_pps_conflicts`` (one flag per predicted object of a
    parts class) — what ``PartPQMetric`` consumes —
    and mmdet's outputs that ``test_cfg`` switches on: ``pred_panoptic_seg`` (``panoptic_on``, the default) and
    ``pred_instances`` (``instance_on``).
    """

    def predict(self, batch_inputs: Tensor, batch_data_samples, rescale: bool = True):
        feats = self.extract_feat(batch_inputs)
        mask_cls, mask_pred, parts = self.panoptic_head.predict(feats, batch_data_samples)
        results = self.panoptic_fusion_head.predict(mask_cls, mask_pred, batch_data_samples, rescale=rescale,
                                                    parts=parts)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def add_pred_to_datasample(self, data_samples, results_list):
        """mmdet's outputs, then the PPS prediction and its conflict flags."""
        data_samples = super().add_pred_to_datasample(data_samples, results_list)
        for sample, res in zip(data_samples, results_list):
            sample.pred_pps = PixelData(data=res['pps'])
            sample.pred_pps_conflicts = res['pps_conflicts']
            if 'pps_segment_scores' in res:  # test_cfg.segment_scores: segment scores and conflicting objects
                sample.set_metainfo(dict(pps_segment_scores=res['pps_segment_scores'],
                                         pps_conflict_objects=res['pps_conflict_objects']))
        return data_samples
