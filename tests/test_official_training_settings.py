"""The paper configs train with the official TAPPS's data augmentation and optimizer parameter groups.

Restated from the public code of tue-mps/tapps: ``configs/cityscapes/pps/Base-Cityscapes-PPS.yaml`` and
``mask_former_semantic_dataset_mapper.py`` (Cityscapes-PP), ``configs/pascal/pps/Base-Pascal-PPS-LSJ.yaml`` and
``pascal_panoptic_parts_new_baseline_dataset_mapper.py`` (Pascal-PP), ``train_net.py``'s ``build_optimizer``
(detectron2's ``WEIGHT_DECAY_NORM = 0``, ``WEIGHT_DECAY_EMBED = 0``, ``BACKBONE_MULTIPLIER = 0.1``).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import tapps_mm.registry  # noqa: F401
from tapps_mm.engine.optim_constructor import NORM_LAYERS
from tapps_mm.registry import DATASETS, MODELS, TRANSFORMS
from tapps_mm.testing.fake_datasets import write_fake_pascal_pp

CITYSCAPES = 'configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py'
PASCAL = 'configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py'
SWIN = 'configs/tapps/tapps_swin-b-p4-w12-384-in21k-cocopan_4xb4-90k_cityscapes-pp.py'
#: detectron2's MIN_SIZE_TRAIN of Base-Cityscapes-PPS.yaml: [int(x * 0.1 * 1024) for x in range(5, 21)]
CITYSCAPES_SHORT_SIDES = [512, 614, 716, 819, 921, 1024, 1126, 1228, 1331, 1433, 1536, 1638, 1740, 1843, 1945, 2048]


def d2_shortest_edge(h: int, w: int, size: int, max_size: int) -> tuple[int, int]:
    """detectron2's ``ResizeShortestEdge.get_output_shape``."""
    scale = size / min(h, w)
    new_h, new_w = (size, scale * w) if h < w else (scale * h, size)
    if max(new_h, new_w) > max_size:
        scale = max_size / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def _transforms(config: str, loader: str = 'train_dataloader') -> dict:
    return {t['type']: {k: v for k, v in t.items() if k != 'type'}
            for t in Config.fromfile(config)[loader].dataset.pipeline}


def test_cityscapes_augmentation_is_the_official():
    t = _transforms(CITYSCAPES)
    order = list(t)
    assert order == ['LoadImageFromFile', 'LoadPPSAnnotations', 'RandomChoiceResize', 'RandomCrop',
                     'mmseg.PhotoMetricDistortion', 'RandomFlip', 'PackPPSInputs']
    assert t['RandomChoiceResize'] == dict(scales=CITYSCAPES_SHORT_SIDES, resize_type='ResizeShortestEdge',
                                           max_size=4096)
    assert t['RandomCrop'] == dict(crop_size=(512, 1024), crop_type='absolute', allow_negative_crop=True)
    assert t['RandomFlip'] == dict(prob=0.5)
    init_default_scope('tapps_mm')
    colour = TRANSFORMS.build(dict(type='mmseg.PhotoMetricDistortion', **t['mmseg.PhotoMetricDistortion']))
    # detectron2's ColorAugSSDTransform: brightness +-32, contrast / saturation 0.5-1.5, hue +-18, no channel swap
    assert (colour.brightness_delta, colour.contrast_lower, colour.contrast_upper, colour.saturation_lower,
            colour.saturation_upper, colour.hue_delta) == (32, 0.5, 1.5, 0.5, 1.5, 18)
    assert not any('swap' in name or 'permute' in name for name in dir(colour))  # mmdet's has random_permute
    assert _transforms(CITYSCAPES, 'test_dataloader')['Resize'] == dict(scale=(2048, 1024), keep_ratio=True,
                                                                        backend='pillow')


@pytest.mark.parametrize('h,w', [(1024, 2048), (700, 1500), (1500, 700)])
def test_cityscapes_resize_gives_detectron2s_sizes(h, w):
    init_default_scope('tapps_mm')
    resize = TRANSFORMS.build(dict(type='RandomChoiceResize', **_transforms(CITYSCAPES)['RandomChoiceResize']))
    seen = set()
    for seed in range(40):
        np.random.seed(seed)
        out = resize(dict(img=np.zeros((h, w, 3), np.uint8), gt_seg_map=np.zeros((h, w), np.int32),
                          seg_fields=['gt_seg_map'], img_shape=(h, w)))
        size = CITYSCAPES_SHORT_SIDES[out['scale_idx']]
        assert out['img'].shape[:2] == out['gt_seg_map'].shape == d2_shortest_edge(h, w, size, 4096)
        seen.add(size)
    assert len(seen) > 8  # a choice among the sizes, not a range


def test_pascal_training_images_are_padded_to_1024(tmp_path):
    """LSJ 0.1-2.0 of 1024, then detectron2's FixedSizeCrop: crop and pad to 1024x1024 (image 128, labels
    void), so the losses and matching costs see the official padding."""
    t = _transforms(PASCAL)
    assert list(t) == ['LoadImageFromFile', 'LoadPPSAnnotations', 'RandomFlip', 'RandomResize', 'RandomCrop', 'Pad',
                       'PackPPSInputs']
    assert t['RandomResize'] == dict(scale=(1024, 1024), ratio_range=(0.1, 2.0), keep_ratio=True)
    assert t['Pad'] == dict(size=(1024, 1024), pad_val=dict(img=(128, 128, 128), seg=255))
    assert _transforms(PASCAL, 'test_dataloader')['Resize'] == dict(scale=(1333, 800), keep_ratio=True,
                                                                    backend='pillow')
    write_fake_pascal_pp(str(tmp_path), num_train=2, num_val=0, size=(96, 128))
    cfg = Config.fromfile(PASCAL)
    init_default_scope('tapps_mm')
    ds = DATASETS.build({**cfg.train_dataloader.dataset, 'data_root': str(tmp_path)})
    np.random.seed(0)
    for i in range(len(ds)):
        item = ds[i]
        img, sample = item['inputs'], item['data_samples']
        assert tuple(img.shape[-2:]) == (1024, 1024)
        h, w = sample.img_shape  # the resized image before padding (at most 2 x 128 here)
        assert (img[:, h:, :] == 128).all() and (img[:, :, w:] == 128).all()
        assert (sample.gt_sem_seg.sem_seg[0, h:] == 255).all() and (sample.gt_part_seg.sem_seg[0, h:] == 0).all()


def _groups(config: str) -> dict[str, dict]:
    """Parameter name -> its optimizer group (lr, weight_decay) as the config builds them."""
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None  # the groups need no weights; the model is not run
    init_default_scope('tapps_mm')
    model = MODELS.build(cfg.model)
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.type = 'OptimWrapper'  # AmpOptimWrapper needs a GPU; the groups are the constructor's
    wrapper = build_optim_wrapper(model, optim_cfg)
    by_param = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    return {name: by_param[id(p)] for name, p in model.named_parameters() if id(p) in by_param}, model


@pytest.mark.parametrize('config', [CITYSCAPES, SWIN])
def test_optimizer_groups_are_the_officials(config):
    """Backbone lr x 0.1; weight decay 0 on every norm layer (the backbone's SyncBN / LayerNorm too), on the
    query and level embeddings (and Swin's position tables); 0.05 elsewhere."""
    groups, model = _groups(config)
    norms = {f'{m}.{p}' for m, mod in model.named_modules() if isinstance(mod, NORM_LAYERS)
             for p, _ in mod.named_parameters(recurse=False)}
    backbone_norms = {n for n in norms if n.startswith('backbone.')}
    assert backbone_norms and all(groups[n]['weight_decay'] == 0.0 for n in norms)
    for name, g in groups.items():
        assert g['lr'] == pytest.approx(1e-5 if name.startswith('backbone.') else 1e-4), name
        no_decay = (name in norms or any(k in name for k in ('query_embed', 'query_feat', 'level_embed',
                                                             'relative_position_bias_table', 'absolute_pos_embed')))
        assert g['weight_decay'] == (0.0 if no_decay else pytest.approx(0.05)), name
    assert torch.is_tensor(next(model.parameters()))
