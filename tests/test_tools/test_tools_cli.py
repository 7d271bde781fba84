"""tools/train.py and tools/test.py turn mmdet's flags into the right config (no run needed)."""
import os.path as osp

import pytest
import torch

from tapps_mm.testing.repo import load_module

PAPER = 'configs/tapps/tapps_r50-cocopan_4xb4-10k_pascal-pp.py'


def _tool(name):
    return load_module(osp.join('tools', f'{name}.py'), f'tool_{name}')


def test_train_defaults_and_amp_fallback(tmp_path):
    train = _tool('train')
    cfg = train.build_config(train.parse_args([PAPER, '--cfg-options', 'train_cfg.max_iters=5']))
    assert cfg.work_dir == osp.join('./work_dirs', 'tapps_r50-cocopan_4xb4-10k_pascal-pp')
    assert cfg.train_cfg.max_iters == 5 and cfg.launcher == 'none'
    # the paper trains with AMP; without a GPU mmengine would refuse it, so fp32 with a warning
    expected = 'AmpOptimWrapper' if torch.cuda.is_available() else 'OptimWrapper'
    assert cfg.optim_wrapper.type == expected and 'loss_scale' not in cfg.optim_wrapper


def test_train_resume(tmp_path):
    train = _tool('train')
    # nothing to resume yet (a first or requeued job): train from the config's initialisation
    cfg = train.build_config(train.parse_args([PAPER, '--work-dir', str(tmp_path), '--resume']))
    assert not cfg.resume and cfg.load_from.endswith('model_final_94dc52.pkl')  # Mask2Former's own COCO weights
    (tmp_path / 'iter_2000.pth').write_bytes(b'x')
    cfg = train.build_config(train.parse_args([PAPER, '--work-dir', str(tmp_path), '--resume']))
    assert cfg.resume and cfg.load_from == str(tmp_path / 'iter_2000.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        train.build_config(train.parse_args([PAPER, '--resume', str(tmp_path / 'missing.pth')]))
    with pytest.raises(FileNotFoundError, match='nope.py'):
        train.build_config(train.parse_args(['configs/tapps/nope.py']))


def test_test_out_and_show_dir(tmp_path):
    test = _tool('test')
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'x')
    cfg = test.build_config(test.parse_args([PAPER, str(ckpt), '--out', str(tmp_path / 'pred'), '--show-dir', 'vis']))
    assert cfg.load_from == str(ckpt)
    assert cfg.test_evaluator.outfile_prefix == str(tmp_path / 'pred')  # official-format PNGs
    assert cfg.default_hooks.visualization.draw and cfg.default_hooks.visualization.test_out_dir == 'vis'
    assert 'spec' not in cfg.visualizer  # the visualiser draws in the spec of the dataset it runs on
    cfg = test.build_config(test.parse_args([PAPER, str(ckpt), '--out', str(tmp_path / 'results.pkl')]))
    assert [e['type'] for e in cfg.test_evaluator] == ['PartPQMetric', 'DumpResults']
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        test.build_config(test.parse_args([PAPER, str(tmp_path / 'absent.pth')]))
