"""Packing decoded PPS targets into mmdet's data samples (mmdet's panoptic convention + parts)."""
from __future__ import annotations

import torch
from mmdet.datasets.transforms import PackDetInputs
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import PixelData

from tapps_mm.datasets.pps_targets import decode_targets
from tapps_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackPPSInputs(PackDetInputs):
    """Decode the augmented target codes and pack them like mmdet's panoptic samples, plus parts.

    The data sample gets what mmdet's Mask2Former consumes — ``gt_instances`` (thing instances:
    ``labels``, ``masks``, ``bboxes``) and ``gt_sem_seg`` (class labels, 255 = void / crowd; stuff
    segments come from it) — and for the part branch ``gt_part_seg`` (0 = no part, j + 1 = flat part
    index j, only inside objects of parts classes). Void and crowd pixels are those where ``gt_sem_seg`` is 255.
    Without annotations (test pipelines) only the image and the meta keys are packed.
    """

    def __init__(self, num_things: int | None = None,
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                            'flip_direction', 'pps_label_path', 'pps_image_id')) -> None:
        super().__init__(meta_keys=meta_keys)
        self.num_things = num_things

    def transform(self, results: dict) -> dict:
        if 'pps_seg_labels' not in results:
            return super().transform(results)
        targets = decode_targets(results['gt_seg_map'], results['pps_seg_labels'], results['pps_seg_crowd'])
        num_things = self.num_things if self.num_things is not None else results.get('pps_num_things')
        if num_things is None:
            raise KeyError('PackPPSInputs: set `num_things` or use a PPS dataset (it sets pps_num_things)')
        things = targets.labels < num_things
        masks = BitmapMasks(targets.masks[things], *targets.part_seg.shape)
        results = {k: v for k, v in results.items() if k not in ('gt_bboxes', 'gt_masks', 'gt_ignore_flags')}
        results.update(gt_masks=masks, gt_bboxes_labels=targets.labels[things],
                       gt_bboxes=HorizontalBoxes(masks.get_bboxes(dst_type='hbox').tensor),
                       gt_seg_map=targets.sem_seg)
        packed = super().transform(results)
        sample = packed['data_samples']
        sample.gt_part_seg = PixelData(sem_seg=torch.from_numpy(targets.part_seg[None].copy()))
        return packed

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_things={self.num_things}, meta_keys={self.meta_keys})'
