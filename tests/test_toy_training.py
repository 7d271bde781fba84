"""End to end on the synthetic dataset: the toy config trains with mmengine's runner, evaluates with
PartPQMetric, and a CPU run is reproducible from its seed."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import tapps_mm.registry  # noqa: F401
from tapps_mm.datasets.synthetic_pp import write_synthetic_pp

TOY = 'configs/tapps/tapps_r18-toy_1xb4-1600it_synthetic.py'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn')
    write_synthetic_pp(str(root), num_train=4, num_val=2, size=(64, 64), progress=False)
    return str(root) + '/'


def _cfg(data_root, work_dir, iters=3):
    cfg = Config.fromfile(TOY)
    cfg.work_dir = str(work_dir)
    head = cfg.model.panoptic_head
    head.transformer_decoder.num_layers = 2
    head.num_queries = 8
    cfg.model.train_cfg.num_points = 256
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False, batch_size=2)
        cfg[loader].dataset.data_root = data_root
    cfg.train_dataloader.dataset.pipeline[3].update(scale=(64, 64))  # RandomResize
    cfg.train_dataloader.dataset.pipeline[4].update(crop_size=(64, 64))  # RandomCrop
    cfg.val_dataloader.dataset.pipeline[1].update(scale=(64, 64))
    cfg.val_evaluator.spec = data_root + 'evalspec.yaml'
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.param_scheduler.end = iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.pop('visualization')
    cfg.log_level = 'WARNING'
    return cfg


def _train(cfg):
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    return runner


def test_toy_config_trains_and_evaluates(data_root, tmp_path):
    runner = _train(_cfg(data_root, tmp_path))
    metrics = runner.val_loop.run()
    for key in ('pps/PartPQ', 'pps/PartSQ_parts', 'pps/PQ', 'pps/mIoU', 'pps/obj_without_conflicts'):
        assert key in metrics
    assert 0.0 <= metrics['pps/PartPQ'] <= 1.0 and metrics['pps/num_images'] == 2


def test_cpu_run_is_reproducible_from_its_seed(data_root, tmp_path):
    weights = []
    for run in range(2):
        runner = _train(_cfg(data_root, tmp_path / str(run)))
        weights.append({k: v.clone() for k, v in runner.model.state_dict().items()})
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
