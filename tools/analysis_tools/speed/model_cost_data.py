"""The batches every model of the model-cost benchmark sees: a small dataset in the official format of the
scale's dataset, written at the scale's size into a temporary folder, through fixed train and test
pipelines (every worker builds the same ones)."""
from __future__ import annotations

import os.path as osp

from model_cost_models import ROOT

# dataset -> (dataset type, split, fake-data writer in tapps_mm.testing.fake_datasets)
DATASETS = {'synthetic': ('SyntheticPPSDataset', 'train', None),
            'cityscapes': ('CityscapesPPSDataset', 'train', 'write_fake_cityscapes_pp'),
            'pascal': ('PascalPPSDataset', 'training', 'write_fake_pascal_pp')}


def write_data(setting: dict, root: str, seed: int) -> None:
    """Enough images for two training batches (at least 4) at the scale's size, no val split."""
    h, w = (int(v) for v in setting['size'].split('x'))
    n = max(setting['batch'] * 2, 4)
    if setting['dataset'] == 'synthetic':  # with the scale's generator options (the toy benchmark's)
        from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
        write_synthetic_pp(root, num_train=n, num_val=0, size=(h, w), seed=seed, progress=False,
                           **setting.get('data_options', {}))
        return
    from tapps_mm.testing import fake_datasets
    getattr(fake_datasets, DATASETS[setting['dataset']][2])(root, num_train=n, num_val=0, size=(h, w), seed=seed)


def batches(setting: dict, data_root: str, seed: int) -> tuple[list, list]:
    """Four training batches through a train pipeline (flip, no resize: the images are at the scale's size)
    and one batch through the test pipeline."""
    import numpy as np
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from tapps_mm.registry import DATASETS as REGISTRY
    ds_type, split, _ = DATASETS[setting['dataset']]
    # the config's spec: it decides the part codes (e.g. Cityscapes-PP's 9 grouped parts, not 23)
    spec = Config.fromfile(osp.join(ROOT, setting['config'])).train_dataloader.dataset.get('spec')
    load = [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations')]
    train = load + [dict(type='RandomFlip', prob=0.5), dict(type='PackPPSInputs')]
    test = [dict(type='LoadImageFromFile'), dict(type='PackPPSInputs')]
    train_ds = REGISTRY.build(dict(type=ds_type, data_root=data_root, split=split, spec=spec, pipeline=train))
    test_ds = REGISTRY.build(dict(type=ds_type, data_root=data_root, split=split, spec=spec, pipeline=test))
    np.random.seed(seed)
    n, b = len(train_ds), setting['batch']
    idx = [[(i * b + j) % n for j in range(b)] for i in range(4)]
    return [pseudo_collate([train_ds[k] for k in ks]) for ks in idx], [pseudo_collate([test_ds[k] for k in idx[0]])]
