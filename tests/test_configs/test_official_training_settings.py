"""The paper configs resize as the official TAPPS (train and test sizes) and build its optimizer parameter groups;
the whole training pipelines are run against detectron2 in
``tests/test_datasets/test_transforms/test_training_pipelines.py``.

Restated from the public code of tue-mps/tapps: ``configs/cityscapes/pps/Base-Cityscapes-PPS.yaml`` and
``mask_former_semantic_dataset_mapper.py`` (Cityscapes-PP), ``configs/pascal/pps/Base-Pascal-PPS-LSJ.yaml`` and
``pascal_panoptic_parts_new_baseline_dataset_mapper.py`` (Pascal-PP), ``train_net.py``'s ``build_optimizer``
(detectron2's ``WEIGHT_DECAY_NORM = 0``, ``WEIGHT_DECAY_EMBED = 0``, ``BACKBONE_MULTIPLIER = 0.1``).
"""
from __future__ import annotations

import detectron2_restated as d2
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


def _transforms(config: str, loader: str = 'train_dataloader') -> dict:
    return {t['type']: {k: v for k, v in t.items() if k != 'type'}
            for t in Config.fromfile(config)[loader].dataset.pipeline}


@pytest.mark.parametrize('h,w', [(1024, 2048), (700, 1500), (1500, 700), (300, 4000)])
def test_cityscapes_resize_gives_detectron2s_sizes(h, w):
    """The short side is one of detectron2's 16 sizes, the long side at most 4096, rounded as detectron2
    (portrait and very wide inputs reach the max-size rule)."""
    init_default_scope('tapps_mm')
    resize = TRANSFORMS.build(dict(type='RandomChoiceResize', **_transforms(CITYSCAPES)['RandomChoiceResize']))
    seen = set()
    for seed in range(40):
        np.random.seed(seed)
        out = resize(dict(img=np.zeros((h, w, 3), np.uint8), gt_seg_map=np.zeros((h, w), np.int32),
                          seg_fields=['gt_seg_map'], img_shape=(h, w)))
        size = CITYSCAPES_SHORT_SIDES[out['scale_idx']]
        assert out['img'].shape[:2] == out['gt_seg_map'].shape == d2.shortest_edge_hw(h, w, size, 4096)
        seen.add(size)
    assert len(seen) > 8  # a choice among the sizes, not a range


@pytest.mark.parametrize('config,short,longest', [(CITYSCAPES, 1024, 2048), (PASCAL, 800, 1333)])
@pytest.mark.parametrize('h,w', [(1024, 2048), (375, 500), (500, 333), (240, 1200)])
def test_test_resize_is_detectron2s(config, short, longest, h, w):
    """Test images: detectron2's ResizeShortestEdge(short, longest) sizes, PIL's bilinear."""
    init_default_scope('tapps_mm')
    (resize,) = [TRANSFORMS.build(t) for t in Config.fromfile(config).test_dataloader.dataset.pipeline
                 if t['type'] == 'Resize']
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3)).astype(np.uint8)
    out = resize(dict(img=img.copy(), img_shape=(h, w)))['img']
    np.testing.assert_array_equal(out, d2.resize(img, d2.shortest_edge_hw(h, w, short, longest)))


def test_pascal_training_images_are_padded_to_1024(tmp_path):
    """Through the dataset (loading and packing too): LSJ 0.1-2.0 of 1024, then FixedSizeCrop pads to
    1024x1024 (image 128, labels void), so the losses and matching costs see the official padding."""
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
