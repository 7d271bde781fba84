"""Mask2Former's head for part-aware panoptic segmentation, with no part branch: the base of the TAPPS and
baseline heads, and on its own a plain Mask2Former whose predictions have no parts.

Objects are mmdet's ``Mask2FormerHead`` (queries, losses, matching), with the class counts and class weights
of a PPS spec, Mask2Former's decoder init and the batched matching. What a part branch adds goes through
hooks that do nothing here:

- ``_forward_head`` (mmdet's, called per decoder layer) may :meth:`record` what the branch needs of a layer;
  :meth:`forward` returns those records;
- :meth:`loss_by_feat` receives the records and the samples' part maps beside mmdet's arguments;
- :meth:`part_outputs` turns the records into the part outputs the fusion head reads
  (``tapps_mm.structures.part_outputs``); ``None``: the fusion head predicts no parts ('no part', 255).
"""
from __future__ import annotations

import torch.nn.functional as F
from mmdet.models.dense_heads import Mask2FormerHead
from torch import Tensor

from tapps_mm.models.dense_heads.batched_targets import BatchedTargetsMixin
from tapps_mm.models.dense_heads.decoder_init import DecoderInitMixin
from tapps_mm.models.dense_heads.layer_record import LayerRecordMixin
from tapps_mm.models.utils import mask2former_class_args
from tapps_mm.registry import MODELS
from tapps_mm.specs import load_spec
from tapps_mm.structures import PartOutputs


@MODELS.register_module()
class Mask2FormerPPSHead(DecoderInitMixin, LayerRecordMixin, BatchedTargetsMixin, Mask2FormerHead):
    """mmdet's Mask2Former head whose classes are those of a PPS spec.

    Args:
        spec: PPS spec name or eval-spec YAML: class order (and so the class counts and the class weights
            of ``loss_cls``).
        no_object_weight: class weight of 'no object' in ``loss_cls`` (mmdet's 0.1).
    """

    def __init__(self, *args, spec: str = 'cityscapes', num_things_classes: int | None = None,
                 num_stuff_classes: int | None = None, loss_cls: dict | None = None, no_object_weight: float = 0.1,
                 **kwargs) -> None:
        pps_spec = load_spec(spec)
        super().__init__(*args, **mask2former_class_args(pps_spec, type(self).__name__, num_things_classes,
                                                         num_stuff_classes, loss_cls, no_object_weight), **kwargs)
        self.spec = pps_spec

    def forward(self, x: list[Tensor], batch_data_samples) -> tuple[list[Tensor], list[Tensor], list]:
        """mmdet's class and mask logits per decoder layer, and what ``_forward_head`` recorded per layer."""
        with self.recording() as layers:
            cls_list, mask_list = super().forward(x, batch_data_samples)
        return cls_list, mask_list, layers

    def loss(self, x: tuple[Tensor], batch_data_samples) -> dict[str, Tensor]:
        """mmdet's ``loss``, which also hands :meth:`loss_by_feat` the records and the part maps."""
        metas = [s.metainfo for s in batch_data_samples]
        gts = [s.gt_instances for s in batch_data_samples]
        sems = [s.gt_sem_seg if 'gt_sem_seg' in s else None for s in batch_data_samples]
        part_maps = [s.gt_part_seg.sem_seg[0] if 'gt_part_seg' in s else None for s in batch_data_samples]
        cls_list, mask_list, layers = self(x, batch_data_samples)
        return self.loss_by_feat(cls_list, mask_list, layers, self.preprocess_gt(gts, sems), part_maps, metas)

    def loss_by_feat(self, all_cls_scores: list[Tensor], all_mask_preds: list[Tensor], all_layers: list,
                     batch_gt_instances: list, batch_part_maps: list, batch_img_metas: list[dict]) -> dict[str, Tensor]:
        """mmdet's object losses; a part branch adds its own from its per-layer records and the part maps
        (flat part id per pixel, 0 = no part; ``None`` for a sample without part labels)."""
        return super().loss_by_feat(all_cls_scores, all_mask_preds, batch_gt_instances, batch_img_metas)

    @staticmethod
    def _weighted(weight: float, loss: Tensor) -> Tensor:
        """``weight * loss``, without an operation for the weight 1 (the same value, one op fewer per loss)."""
        return loss if weight == 1.0 else weight * loss

    def predict(self, x: tuple[Tensor], batch_data_samples) -> tuple[Tensor, Tensor, PartOutputs | None]:
        """Last-layer class logits, mask logits at the batch input size (as mmdet), and the part outputs."""
        cls_list, mask_list, layers = self(x, batch_data_samples)
        size = batch_data_samples[0].metainfo['batch_input_shape']
        masks = F.interpolate(mask_list[-1], size=size, mode='bilinear', align_corners=False)
        return cls_list[-1], masks, self.part_outputs(layers, size)

    def part_outputs(self, layers: list, size: tuple[int, int]) -> PartOutputs | None:
        """The part outputs from the per-layer records (``size``: the batch input size); none here."""
        return None
