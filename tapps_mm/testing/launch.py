"""Small real runs for the launch tests: a tiny toy config on disk, a hook that kills its own process
(a job that dies mid-way, as on a preempted node), and the metrics a run logged."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import signal

from mmengine.hooks import Hook

from tapps_mm.registry import HOOKS
from tapps_mm.testing.repo import REPO

TOY = osp.join(REPO, 'configs', 'tapps', 'tapps_r18-toy_1xb8-1000it_synthetic.py')


def poly_schedule(iters: int) -> dict:
    """The toy schedule without its warm-up (runs of a few iterations): poly decay over ``iters``."""
    return dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=iters, by_epoch=False)


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """SIGKILL this process after training iteration ``iter`` (1-based), after any checkpoint of that
    iteration: no clean-up runs, as when a node dies."""

    priority = 'LOWEST'

    def __init__(self, iter: int) -> None:
        self.iter = iter

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.iter:
            os.kill(os.getpid(), signal.SIGKILL)


def write_tiny_toy_config(path: str, data_root: str, iters: int, checkpoint_interval: int,
                          kill_at: int | None = None, ema: bool = False) -> str:
    """A config inheriting the toy one: 2 decoder layers, 8 queries, 64x64 images, batch 2, no workers,
    ``iters`` iterations with evaluation at the end; optionally killed after iteration ``kill_at``; ``ema``: with
    the toy's EMAHook (evaluation of averaged weights, which checkpoints carry beside the training ones)."""
    hooks = ("[dict(type='RNGStateHook'), dict(type='CheckpointMatchHook'), dict(type='PerImageStatsHook')"
             + (", dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01, update_buffers=True, "
                "priority=49)" if ema else '')
             + (f", dict(type='KillAtIterHook', iter={kill_at})]" if kill_at else ']'))
    loader = "dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root='{}'{}))"
    text = f"""_base_ = '{TOY}'
custom_imports = dict(imports=['tapps_mm.testing.launch'], allow_failed_imports=False)
model = dict(panoptic_head=dict(num_queries=8, transformer_decoder=dict(num_layers=2)),
             train_cfg=dict(num_points=256))
train_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations'), dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(64, 64), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(64, 64), crop_type='absolute', allow_negative_crop=True),
    dict(type='PackPPSInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                 dict(type='PackPPSInputs')]
train_dataloader = {loader.format(data_root, ', pipeline=train_pipeline')}
val_dataloader = {loader.format(data_root, ', pipeline=test_pipeline')}
test_dataloader = val_dataloader
train_cfg = dict(max_iters={iters}, val_interval={iters})
param_scheduler = {dict(_delete_=True, **poly_schedule(iters))!r}
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={checkpoint_interval}, max_keep_ckpts=10))
custom_hooks = {hooks}
"""
    with open(path, 'w') as f:
        f.write(text)
    return path


def logged_metrics(work_dir: str) -> list[dict]:
    """Every evaluation the runs in ``work_dir`` logged (mmengine's ``<timestamp>/vis_data/scalars.json``),
    oldest first."""
    found = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            found += [r for r in map(json.loads, f) if any(k.startswith('pps/') for k in r)]
    return found


def evaluation_results(work_dir: str) -> dict:
    """The metrics of the last ``tools/test.py`` run in ``work_dir`` (``<timestamp>/<timestamp>.json``)."""
    paths = sorted(p for p in glob.glob(osp.join(work_dir, '*', '*.json')) if 'vis_data' not in p)
    if not paths:
        raise FileNotFoundError(f'no test results under {work_dir}')
    with open(paths[-1]) as f:
        return json.load(f)
