"""tools/analysis_tools/inference_sweep.py on tiny trained toy checkpoints: the default setting is tools/test.py's
evaluation (and the training run's final one: EMA weights), a changed threshold is tools/test.py's with that
``--cfg-options``, and what the queries keep falls as object_mask_thr rises."""
from __future__ import annotations

import copy
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.registry import MODELS, RUNNERS
from tapps_mm.testing.launch import poly_schedule
from tapps_mm.testing.repo import load_module

TAPPS = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
BASELINE = 'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py'
MASK2FORMER = 'configs/mask2former/mask2former_r18-toy_1xb8-1000it_synthetic.py'
ITERS = 3
THRESHOLDS = [0.2, 0.25, 0.3]  # the tiny checkpoints' class scores lie around 0.2-0.3; the default is 0.0


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('syn')
    write_synthetic_pp(str(root), num_train=4, num_val=4, size=(64, 64), progress=False, object_scale=2.0,
                       twin_parts=True)  # the toy benchmark's objects
    return str(root) + '/'


def _tiny(config: str, data_root: str, work_dir: str) -> Config:
    """The toy config (its EMAHook kept) at test size: 8 queries, 2 decoder layers, 64x64, batch 2."""
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    head = cfg.model.panoptic_head
    head.update(num_queries=8, no_object_weight=0.0)
    head.transformer_decoder.num_layers = 2
    if 'num_part_queries' in head:
        head.num_part_queries = 8
    cfg.model.test_cfg.object_mask_thr = 0.0
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False, batch_size=2)
        cfg[loader].dataset.data_root = data_root
    cfg.train_cfg.update(max_iters=ITERS, val_interval=ITERS)
    cfg.optim_wrapper.optimizer.lr = 1e-4
    cfg.param_scheduler = poly_schedule(ITERS)
    cfg.default_hooks.checkpoint.interval = ITERS
    cfg.default_hooks.pop('visualization')
    cfg.log_level = 'WARNING'
    assert any(h.type == 'EMAHook' for h in cfg.custom_hooks)
    return cfg


def _train(config: str, data_root: str, tmp_path) -> tuple[str, str, str]:
    """(config file, checkpoint, work dir) of a 3-iteration run. A few iterations teach the toy model to call
    every query 'no object' and to shrink its masks, leaving nothing to sweep: the run starts from a random
    initialisation whose 'no object' logit is lowered, trains without that class's loss at a small learning
    rate, and so ends with objects whose scores lie around 0.2-0.3 (its EMA weights differ from its last ones)."""
    work_dir = str(tmp_path / 'train')
    cfg = _tiny(config, data_root, work_dir)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('tapps_mm'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    state = model.state_dict()
    state['panoptic_head.cls_embed.bias'][-1] = -10.0
    init = str(tmp_path / 'init.pth')
    torch.save({'state_dict': state}, init)
    cfg.load_from = init
    RUNNERS.build(copy.deepcopy(cfg)).train()
    cfg.load_from = None
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    return path, osp.join(work_dir, f'iter_{ITERS}.pth'), work_dir


def _sweep(config: str, checkpoint: str, out, *flags: str) -> dict:
    tool = load_module('tools/analysis_tools/inference_sweep.py', 'tool_inference_sweep')
    return tool.main([config, checkpoint, '--out', str(out), '--object-mask-thr', *map(str, THRESHOLDS),
                      '--iou-thr', '0.5', *flags])


def _test_tool(config: str, checkpoint: str, work_dir, *options: str) -> tuple[dict, PerImageStats]:
    """What tools/test.py reports: its metrics JSON and per-image statistics."""
    tool = load_module('tools/test.py', 'tool_test_for_sweep')
    tool.main([config, checkpoint, '--work-dir', str(work_dir), *(['--cfg-options', *options] if options else [])])
    (result,) = glob.glob(str(work_dir / '*' / '*.json'))
    with open(result) as f:
        metrics = {k.split('/', 1)[1]: v for k, v in json.load(f).items() if k.startswith('pps/')}
    (stats,) = glob.glob(str(work_dir / '*' / 'per_image_stats.npz'))
    return metrics, PerImageStats.load(stats)


def _assert_same_stats(a: PerImageStats, b: PerImageStats) -> None:
    assert a.image_ids.tolist() == b.image_ids.tolist() and a.arrays.keys() == b.arrays.keys()
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key]), key


def _setting(result: dict, name: str) -> dict:
    (entry,) = [s for s in result['settings'] if s['name'] == name]
    return entry


def test_sweep_equals_test_tool_and_falls_with_object_mask_thr(data_root, tmp_path):
    config, checkpoint, work_dir = _train(TAPPS, data_root, tmp_path)
    out = tmp_path / 'sweep'
    result = _sweep(config, checkpoint, out)
    assert result == json.loads((out / 'sweep.json').read_text())
    names = [s['name'] for s in result['settings']]
    assert names == ['default', 'object_mask_thr_0.2', 'object_mask_thr_0.25', 'object_mask_thr_0.3',
                     'iou_thr_0.5']
    assert result['defaults'] == dict(object_mask_thr=0.0, iou_thr=0.8)
    assert _setting(result, 'iou_thr_0.5')['test_cfg'] == dict(object_mask_thr=0.0, iou_thr=0.5)
    for name in names:
        assert (out / f'{name}.npz').is_file()
    default = _setting(result, 'default')
    # something to sweep: predicted and ground-truth objects (too few training steps for true positives)
    assert default['num_pred_thing_segments'] > 0 and default['thing_fn'] > 0

    # (1) the default setting is tools/test.py's evaluation, and the training run's final one (EMA weights: the
    # checkpoint's state_dict; its ema_state_dict holds the last weights, which predict otherwise)
    saved = torch.load(checkpoint, map_location='cpu', weights_only=False)
    last = saved['ema_state_dict']['module.panoptic_head.cls_embed.weight']
    assert not torch.equal(saved['state_dict']['panoptic_head.cls_embed.weight'], last)
    metrics, stats = _test_tool(config, checkpoint, tmp_path / 'test_default')
    assert default['metrics'] == metrics
    assert (default['PartPQ'], default['PQ_th']) == (metrics['PartPQ'], metrics['PQ_th'])
    _assert_same_stats(PerImageStats.load(str(out / 'default.npz')), stats)
    _assert_same_stats(PerImageStats.load(osp.join(work_dir, 'per_image_stats', f'iter_{ITERS}.npz')), stats)
    # (2) a changed threshold is tools/test.py's with that --cfg-options
    changed = _setting(result, 'object_mask_thr_0.25')
    metrics, stats = _test_tool(config, checkpoint, tmp_path / 'test_0.25', 'model.test_cfg.object_mask_thr=0.25')
    assert changed['metrics'] == metrics
    _assert_same_stats(PerImageStats.load(str(out / 'object_mask_thr_0.25.npz')), stats)
    assert changed['metrics'] != default['metrics']
    # (3) fewer objects, and no more found, as object_mask_thr rises
    rising = [default] + [_setting(result, f'object_mask_thr_{t:g}') for t in THRESHOLDS]
    counts = [s['num_pred_thing_segments'] for s in rising]
    recalls = [s['thing_recall'] for s in rising]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    assert recalls == sorted(recalls, reverse=True)
    for s in rising:
        assert s['thing_recall'] == s['thing_tp'] / (s['thing_tp'] + s['thing_fn'])


@pytest.mark.parametrize('config', [BASELINE, MASK2FORMER])
def test_sweep_of_the_other_heads_is_their_training_evaluation(config, data_root, tmp_path):
    """The baseline's fusion head (PartMergeFusionHead) and the plain Mask2Former's (no part outputs): the default
    setting is the training run's final evaluation."""
    config, checkpoint, work_dir = _train(config, data_root, tmp_path)
    result = _sweep(config, checkpoint, tmp_path / 'sweep')
    _assert_same_stats(PerImageStats.load(str(tmp_path / 'sweep' / 'default.npz')),
                       PerImageStats.load(osp.join(work_dir, 'per_image_stats', f'iter_{ITERS}.npz')))
    assert PerImageStats.load(str(tmp_path / 'sweep' / 'default.npz')).total().sem_pred.sum() > 0  # predicted
    counts = [s['num_pred_thing_segments'] for s in result['settings'][:len(THRESHOLDS) + 1]]
    assert counts == sorted(counts, reverse=True)


def test_errors_name_the_file_or_key(tmp_path):
    tool = load_module('tools/analysis_tools/inference_sweep.py', 'tool_inference_sweep_errors')
    missing = str(tmp_path / 'absent.pth')
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        tool.build_config(tool.parse_args([TAPPS, missing, '--out', str(tmp_path / 'o')]))
    checkpoint = tmp_path / 'ckpt.pth'
    checkpoint.write_bytes(b'')  # never read: the config is refused first
    no_test_cfg = tmp_path / 'no_test_cfg.py'
    no_test_cfg.write_text(f"_base_ = '{osp.abspath(TAPPS)}'\nmodel = dict(test_cfg=None)\n")
    with pytest.raises(KeyError, match=r'no_test_cfg.py: model.test_cfg is missing'):
        tool.build_config(tool.parse_args([str(no_test_cfg), str(checkpoint), '--out', str(tmp_path / 'o')]))
    with pytest.raises(KeyError, match=r"--cfg-options model.test_cfg.object_mask_th: model.test_cfg has no key "
                                       r"'object_mask_th'; did you mean 'model.test_cfg.object_mask_thr'"):
        tool.build_config(tool.parse_args([TAPPS, str(checkpoint), '--out', str(tmp_path / 'o'), '--cfg-options',
                                           'model.test_cfg.object_mask_th=0.1']))
    with pytest.raises(SystemExit):
        tool.parse_args([TAPPS, str(checkpoint), '--out', str(tmp_path / 'o'), '--iou-thr', '1.5'])


def test_settings_are_one_change_at_a_time_without_the_default():
    tool = load_module('tools/analysis_tools/inference_sweep.py', 'tool_inference_sweep_settings')
    settings = tool.sweep_settings(dict(object_mask_thr=0.5, iou_thr=0.8),
                                   dict(object_mask_thr=[0.1, 0.5, 0.1, 0.7], iou_thr=[0.8, 0.95]))
    assert settings == [dict(name='default', changes={}),
                        dict(name='object_mask_thr_0.1', changes=dict(object_mask_thr=0.1)),
                        dict(name='object_mask_thr_0.7', changes=dict(object_mask_thr=0.7)),
                        dict(name='iou_thr_0.95', changes=dict(iou_thr=0.95))]
