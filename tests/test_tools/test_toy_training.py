"""End to end on the synthetic dataset: the toy config trains with its runner (TappsRunner), evaluates with
PartPQMetric, and a CPU run is reproducible from its seed."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
from tapps_mm.registry import RUNNERS
from tapps_mm.testing.launch import poly_schedule
from tapps_mm.testing.repo import load_module

TOY = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'


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
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.param_scheduler = poly_schedule(iters)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.pop('visualization')
    cfg.log_level = 'WARNING'
    return cfg


def _train(cfg):
    runner = RUNNERS.build(copy.deepcopy(cfg))
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


class _Payload:
    """Unpickling it runs code: it writes ``target``."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return exec, (f'open({self.target!r}, "w").write("ran")',)


def test_a_checkpoint_that_would_run_code_is_refused(data_root, tmp_path):
    """Our own full checkpoint (message hub, EMA, RNG states) loads with the restricted unpickler; a crafted
    one is refused, names the file and the global, and its payload never runs unless --unsafe-load."""
    from tapps_mm.engine import UnsafeCheckpointError, allow_unsafe_load
    cfg = _cfg(data_root, tmp_path / 'train', iters=1)
    runner = _train(cfg)
    own = osp.join(cfg.work_dir, 'iter_1.pth')
    assert osp.isfile(_test_tool(cfg, tmp_path / 'own', own))
    # also in a fresh process, where mmengine has not yet filled HistoryBuffer's method table
    import subprocess
    import sys
    code = f'from tapps_mm.engine import load_checkpoint_file; print(sorted(load_checkpoint_file({own!r})))'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0 and 'message_hub' in out.stdout, out.stderr[-2000:]
    target = tmp_path / 'ran.txt'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': runner.model.state_dict(), 'payload': _Payload(str(target))}, evil)
    with pytest.raises(UnsafeCheckpointError, match=r'evil.pth: refused to load: .*builtins.exec'):
        _test_tool(cfg, tmp_path / 'evil', evil)
    assert not target.exists()
    try:
        assert osp.isfile(_test_tool(cfg, tmp_path / 'unsafe', evil, '--unsafe-load'))
        assert target.read_text() == 'ran'  # what the flag means: the file's code ran
    finally:
        allow_unsafe_load(False)


def test_infer_tool_writes_the_official_png_an_overlay_and_segments(data_root, tmp_path):
    import json

    import numpy as np
    from PIL import Image

    from tapps_mm.pps_format import read_image_ids, read_prediction
    cfg = _cfg(data_root, tmp_path / 'train', iters=1)
    cfg.model.test_cfg.object_mask_thr = 0.0  # keep what the barely trained model predicts
    _train(cfg)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    images = sorted(glob.glob(data_root + 'images/val/*.png'))
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not an image')
    tool = load_module('tools/infer.py', 'tool_infer')
    out = tmp_path / 'out'
    rc = tool.main([*images, str(broken), '--config', cfg_path, '--checkpoint',
                    osp.join(cfg.work_dir, 'iter_1.pth'), '--out', str(out)])
    assert rc == 1  # the broken file is reported, the others are done
    stems = [osp.splitext(osp.basename(p))[0] for p in images]
    assert read_image_ids(str(out / 'images.json')) == stems
    for path, stem in zip(images, stems):
        pps = read_prediction(str(out / f'{stem}.png'))
        assert pps.shape == (*Image.open(path).size[::-1], 3)
        assert Image.open(out / f'{stem}_overlay.png').mode == 'RGB'
        info = json.loads((out / f'{stem}.json').read_text())
        assert sum(s['area'] for s in info['segments']) == int((pps[..., 0] != 255).sum())
        for seg in info['segments']:
            assert 0.0 < seg['score'] <= 1.0 and seg['class_name']
            inside = (pps[..., 0] == seg['sid']) & (pps[..., 1] == seg['instance'])
            assert int(inside.sum()) == seg['area']
            assert sum(p['area'] for p in seg['parts']) == int((inside & (pps[..., 2] != 255)).sum())
        assert np.isin(pps[..., 0], [*tool_spec_sids(cfg), 255]).all()
    assert not (out / 'broken.png').exists()


def tool_spec_sids(cfg):
    from tapps_mm.specs import load_spec
    return list(load_spec(cfg.model.panoptic_fusion_head.spec).classes)


def test_tensorboard_is_one_config_switch(tmp_path):
    import argparse

    from tapps_mm.engine.cli import add_common_args, load_config
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    add_common_args(parser)
    plain = load_config(parser.parse_args([TOY]))
    assert [b['type'] for b in plain.visualizer.vis_backends] == ['LocalVisBackend']
    switched = load_config(parser.parse_args([TOY, '--cfg-options', 'tensorboard=True']))
    assert [b['type'] for b in switched.visualizer.vis_backends] == ['LocalVisBackend', 'TensorboardVisBackend']


def test_load_from_logs_how_many_tensors_loaded(data_root, tmp_path):
    from tapps_mm.engine import CheckpointMatchHook
    first = _train(_cfg(data_root, tmp_path / 'a', iters=1))
    cfg = _cfg(data_root, tmp_path / 'b', iters=1)
    cfg.model.panoptic_head.num_queries = 6  # the query tables no longer fit: tolerated, and said
    cfg.load_from = osp.join(first.work_dir, 'iter_1.pth')
    cfg.log_level = 'INFO'
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h.type != 'EMAHook']  # it needs before_run first
    runner = RUNNERS.build(cfg)
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


def test_show_dir_draws_ground_truth_beside_the_prediction(data_root, tmp_path):
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmengine.structures import PixelData
    from PIL import Image

    from tapps_mm.visualization import PPSLocalVisualizer, draw_pps_prediction
    image_path = sorted(glob.glob(data_root + 'images/val/*.png'))[0]
    label = image_path.replace('/images/', '/labels/').replace('.png', '.tif')
    image = np.asarray(Image.open(image_path).convert('RGB'))
    pred = np.full((3, *image.shape[:2]), 255, np.uint8)
    sample = DetDataSample(metainfo=dict(img_path=image_path, pps_label_path=label))
    sample.pred_pps = PixelData(data=torch.from_numpy(pred))
    from tapps_mm.registry import DATASETS
    vis = PPSLocalVisualizer(name='side_by_side_test')
    # what mmengine's loops hand it: the metainfo of the dataset it draws, which names the spec
    vis.dataset_meta = DATASETS.build(dict(type='SyntheticPPSDataset', data_root=data_root, split='val',
                                           pipeline=[])).metainfo
    for draw_gt, name in ((True, 'both.png'), (False, 'pred.png')):
        vis.add_datasample('x', image, sample, draw_gt=draw_gt, out_file=str(tmp_path / name))
    both, alone = (np.asarray(Image.open(tmp_path / n)) for n in ('both.png', 'pred.png'))
    assert alone.shape == draw_pps_prediction(image, pred.transpose(1, 2, 0), data_root + 'evalspec.yaml',
                                              title=osp.basename(image_path)).shape
    assert both.shape[1] > 2 * alone.shape[1] and both.shape[0] >= alone.shape[0]
