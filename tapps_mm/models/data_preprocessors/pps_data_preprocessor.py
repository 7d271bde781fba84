"""mmdet's DetDataPreprocessor, also padding the part and ignore maps of PPS samples."""
from __future__ import annotations

import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmengine.structures import PixelData

from tapps_mm.registry import MODELS


@MODELS.register_module()
class PPSDataPreprocessor(DetDataPreprocessor):
    """Pads ``gt_part_seg`` (with 0: no part) and ``gt_ignore_seg`` (with 1: padding is ignored) to the
    batch input size, like mmdet pads ``gt_sem_seg`` and the instance masks, so all targets share the
    padded frame that the point-sampled losses use."""

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        h, w = data['inputs'].shape[-2:]
        for sample in data['data_samples'] or []:
            for key, value in (('gt_part_seg', 0), ('gt_ignore_seg', 1)):
                if key in sample:
                    seg = getattr(sample, key).sem_seg
                    pad = (0, w - seg.shape[-1], 0, h - seg.shape[-2])
                    if any(pad):
                        setattr(sample, key, PixelData(sem_seg=F.pad(seg, pad, value=value)))
        return data
