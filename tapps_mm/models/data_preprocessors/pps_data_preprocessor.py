"""mmdet's DetDataPreprocessor, also padding the part map of PPS samples."""
from __future__ import annotations

import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmengine.structures import PixelData

from tapps_mm.registry import MODELS


@MODELS.register_module()
class PPSDataPreprocessor(DetDataPreprocessor):
    """Pads ``gt_part_seg`` (with 0: no part) to the batch input size, like mmdet pads ``gt_sem_seg`` (with
    255: ignored) and the instance masks, so all targets share the padded frame of the point-sampled losses."""

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        h, w = data['inputs'].shape[-2:]
        for sample in data['data_samples'] or []:
            if 'gt_part_seg' in sample:
                seg = sample.gt_part_seg.sem_seg
                pad = (0, w - seg.shape[-1], 0, h - seg.shape[-2])
                if any(pad):
                    sample.gt_part_seg = PixelData(sem_seg=F.pad(seg, pad, value=0))
        return data
