"""End to end on the synthetic dataset: the toy config trains with mmengine's runner, evaluates with
PartPQMetric, and a CPU run is reproducible from its seed."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import tapps_mm.registry  # noqa: F401
from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
from tapps_mm.testing.repo import load_module

TOY = 'configs/tapps/tapps_r18-toy_1xb8-600it_synthetic.py'


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


def _test_tool(cfg, tmp_path, checkpoint, *flags):
    tmp_path.mkdir(parents=True)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    tool = load_module('tools/test.py', 'tool_test_strict')
    tool.main([cfg_path, str(checkpoint), '--work-dir', str(tmp_path / 'test'), *flags])
    (result,) = [p for p in glob.glob(str(tmp_path / 'test' / '*' / '*.json'))]
    return result


def test_test_tool_refuses_a_checkpoint_that_does_not_fit(data_root, tmp_path):
    """A state dict matching none of the model's tensors is an error naming them, not a silent PartPQ 0."""
    cfg = _cfg(data_root, tmp_path / 'train')
    runner = _train(cfg)
    good = osp.join(cfg.work_dir, 'iter_3.pth')
    state = {k: v for k, v in runner.model.state_dict().items()}
    wrong = tmp_path / 'wrong.pth'
    torch.save({'state_dict': {'detector.' + k: v for k, v in state.items()}}, wrong)
    with pytest.raises(RuntimeError, match=r'(?s)wrong.pth does not match.*missing in the checkpoint.*not in '
                                           r'the model'):
        _test_tool(cfg, tmp_path / 'a', wrong)
    reshaped = tmp_path / 'reshaped.pth'
    state['panoptic_head.query_feat.weight'] = torch.zeros(3, 3)
    torch.save({'state_dict': state}, reshaped)
    with pytest.raises(RuntimeError, match=r'(?s)shape mismatch \(1\): panoptic_head.query_feat.weight \(3, 3\)'):
        _test_tool(cfg, tmp_path / 'b', reshaped)
    assert osp.isfile(_test_tool(cfg, tmp_path / 'c', wrong, '--non-strict'))  # evaluated anyway, on request
    assert osp.isfile(_test_tool(cfg, tmp_path / 'd', good))


def test_load_from_logs_how_many_tensors_loaded(data_root, tmp_path):
    from tapps_mm.engine import CheckpointMatchHook
    first = _train(_cfg(data_root, tmp_path / 'a', iters=1))
    cfg = _cfg(data_root, tmp_path / 'b', iters=1)
    cfg.model.panoptic_head.num_queries = 6  # the query tables no longer fit: tolerated, and said
    cfg.load_from = osp.join(first.work_dir, 'iter_1.pth')
    cfg.log_level = 'INFO'
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h.type != 'EMAHook']  # it needs before_run first
    runner = Runner.from_cfg(cfg)
    (hook,) = [h for h in runner.hooks if isinstance(h, CheckpointMatchHook)]
    runner.load_or_resume()
    assert not hook.strict
    (log,) = glob.glob(osp.join(cfg.work_dir, '*', '*.log'))
    summary = [line for line in open(log) if 'model tensors loaded' in line]
    assert len(summary) == 1 and '2 of another shape' in summary[0], summary


def test_missing_data_root_says_how_to_create_it(tmp_path):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope('tapps_mm')
    root = str(tmp_path / 'synthetic_pp')
    with pytest.raises(FileNotFoundError, match=r'data_root .*synthetic_pp.* does not exist.*make_synthetic_pp.py '
                                                r'--out .*synthetic_pp'):
        DATASETS.build(dict(type='SyntheticPPSDataset', data_root=root, split='val', pipeline=[]))
