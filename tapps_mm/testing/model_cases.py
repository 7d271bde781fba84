"""Tiny models and hand-built data samples for the model tests (TAPPS, dynamic parts, baseline)."""
from __future__ import annotations

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData

SKY = 3  # label of 'sky' in the synthetic spec (things robot 0, cart 1, ball 2; stuff sky 3, grass 4, road 5)


def tiny_model(config: str, **head):
    """The model of ``config`` with 2 decoder layers, 8 queries and 256 points; ``head`` overrides."""
    import tapps_mm.registry  # noqa: F401
    from tapps_mm.registry import MODELS
    init_default_scope('tapps_mm')
    cfg = Config.fromfile(config).model
    cfg.panoptic_head.transformer_decoder.num_layers = 2
    cfg.panoptic_head.num_queries = 8
    cfg.panoptic_head.update(head)
    cfg.train_cfg.num_points = 256
    cfg.backbone.init_cfg = None  # random weights: no download (the paper configs name torchvision's R-50)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg))  # SyncBN (Cityscapes-PP) needs a process group
    model.init_weights()
    return model


def thing_sample(objects, size: int = 64) -> DetDataSample:
    """A sample with thing boxes ``[(label, y0, y1, x0, x1, part indices)]`` on sky; an object's parts
    are horizontal bands of it, in order (no parts: an unannotated object or a class without parts)."""
    masks, labels = [], []
    sem = torch.full((1, size, size), SKY, dtype=torch.uint8)
    part = torch.zeros((1, size, size), dtype=torch.uint8)
    for label, y0, y1, x0, x1, parts in objects:
        m = np.zeros((size, size), np.uint8)
        m[y0:y1, x0:x1] = 1
        masks.append(m)
        labels.append(label)
        sem[0, y0:y1, x0:x1] = label
        for i, p in enumerate(parts):
            band = (y1 - y0) // len(parts)
            if p is not None:  # None: a band without part label
                part[0, y0 + i * band:y0 + (i + 1) * band, x0:x1] = p + 1
    s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                                    batch_input_shape=(size, size), scale_factor=(1.0, 1.0)))
    s.gt_instances = InstanceData(labels=torch.tensor(labels, dtype=torch.long),
                                  masks=BitmapMasks(np.array(masks).reshape(-1, size, size), size, size))
    s.gt_sem_seg = PixelData(sem_seg=sem)
    s.gt_part_seg = PixelData(sem_seg=part)
    return s


def train_losses(model, samples, size: int = 64) -> dict:
    """The model's losses on random images with these samples."""
    torch.manual_seed(1)
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8) for _ in samples],
             data_samples=samples), True)
    return model(**data, mode='loss')


def predict_on_noise(model, num: int = 2, size: int = 64, ori_shape: tuple[int, int] | None = None) -> list:
    """``model.predict`` on ``num`` random images (optionally rescaled to another original size)."""
    samples = [thing_sample([], size) for _ in range(num)]
    for s in samples:
        if ori_shape is not None:
            s.set_metainfo(dict(ori_shape=ori_shape))
    torch.manual_seed(2)
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8)] * num, data_samples=samples),
            False)
        return model(**data, mode='predict')
