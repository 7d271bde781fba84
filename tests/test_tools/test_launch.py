"""The launch tools, really launched: tools/dist_train.sh + dist_test.sh with 2 CPU processes (gloo),
tools/slurm_train.sh + slurm_test.sh under a real local Slurm (the session's ``slurm_env`` fixture), and a
killed run resumed with --resume."""
from __future__ import annotations

import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from slurm_cluster import PARTITION

from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.testing.fake_datasets import write_fake_synthetic_pp
from tapps_mm.testing.launch import REPO, evaluation_results, logged_metrics, write_tiny_toy_config
from tapps_mm.testing.ports import free_ports

TOOLS = osp.join(REPO, 'tools')
# near-initial weights predict objects of every class; a few iterations at the toy lr predict nothing,
# which would make the single- vs multi-process comparison trivially equal
KEEP_PREDICTIONS = ['optim_wrapper.optimizer.lr=1e-6', 'model.test_cfg.object_mask_thr=0.0']


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('launch_data'))
    write_fake_synthetic_pp(root, num_train=4, num_val=2)
    return root + '/'


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
    env.update(PYTHON=sys.executable, OMP_NUM_THREADS='1', PYTHONPATH=REPO, **extra)
    return env


def _run(args: list[str], cwd, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{args[:2]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc


def _metrics(results: dict) -> dict:
    return {k: v for k, v in results.items() if k.startswith('pps/')}


def _predictions(out_dir: str) -> dict[str, np.ndarray]:
    folder = osp.join(out_dir, 'predictions')
    return {name: np.asarray(Image.open(osp.join(folder, name))) for name in sorted(os.listdir(folder))}


def _weights(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def test_dist_train_and_dist_test_on_cpu(data_root, tmp_path):
    config = write_tiny_toy_config(str(tmp_path / 'tiny.py'), data_root, iters=4, checkpoint_interval=4)
    work = str(tmp_path / 'work')
    train = _run([osp.join(TOOLS, 'dist_train.sh'), config, '2', '--work-dir', work,
                  '--cfg-options', *KEEP_PREDICTIONS], tmp_path, _env(PORT=str(free_ports()[0])))
    log = train.stdout + train.stderr
    assert 'nccl -> gloo' in log and 'Distributed training: True' in log
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    (val,) = logged_metrics(work)
    assert val['pps/num_images'] == 2  # both ranks' halves of the val set were gathered

    checkpoint = osp.join(work, 'iter_4.pth')
    _run([osp.join(TOOLS, 'dist_test.sh'), config, checkpoint, '2', '--work-dir', str(tmp_path / 'dist'),
          '--out', str(tmp_path / 'dist_pred'), '--show-dir', 'vis', '--cfg-options', *KEEP_PREDICTIONS],
         tmp_path, _env(PORT=str(free_ports()[0])))
    _run([sys.executable, osp.join(TOOLS, 'test.py'), config, checkpoint, '--work-dir', str(tmp_path / 'single'),
          '--out', str(tmp_path / 'single_pred'), '--show-dir', 'vis', '--cfg-options', *KEEP_PREDICTIONS],
         tmp_path, _env())
    dist_pred, single_pred = _predictions(str(tmp_path / 'dist_pred')), _predictions(str(tmp_path / 'single_pred'))
    assert list(dist_pred) == ['val_000000.png', 'val_000001.png'] == list(single_pred)
    for name in dist_pred:
        np.testing.assert_array_equal(dist_pred[name], single_pred[name])
    assert any((p[..., 0] != 255).any() for p in single_pred.values()), 'no object predicted: a trivial comparison'
    single = evaluation_results(str(tmp_path / 'single'))
    assert _metrics(evaluation_results(str(tmp_path / 'dist'))) == _metrics(single)
    # every evaluation kept its per-image statistics (PerImageStatsHook); two processes keep the rows of one
    assert osp.isfile(osp.join(work, 'per_image_stats', 'iter_4.npz'))
    kept = [PerImageStats.load(p) for w in ('dist', 'single')
            for p in glob.glob(str(tmp_path / w / '*' / 'per_image_stats.npz'))]
    assert len(kept) == 2 and len(kept[0]) == 2 and kept[0].image_ids.tolist() == kept[1].image_ids.tolist()
    for name, array in kept[0].arrays.items():
        np.testing.assert_array_equal(array, kept[1].arrays[name])
    for run in ('single', 'dist'):  # each rank draws its own images, in the spec of the dataset
        drawings = [p for p in os.listdir(tmp_path / run) if osp.isdir(tmp_path / run / p / 'vis')]
        assert len(drawings) == 1 and len(os.listdir(tmp_path / run / drawings[0] / 'vis')) == 2, run


@pytest.mark.parametrize('ema', [False, True], ids=['plain', 'ema'])
def test_killed_run_resumes_to_the_same_weights_and_metrics(data_root, tmp_path, ema):
    """Also with the toy configs' EMAHook, whose resume swaps the checkpoint's averaged weights for the training
    ones before the model loads them (the loaded weights are checked after that swap)."""
    full = write_tiny_toy_config(str(tmp_path / 'full.py'), data_root, iters=8, checkpoint_interval=2, ema=ema)
    killed = write_tiny_toy_config(str(tmp_path / 'killed.py'), data_root, iters=8, checkpoint_interval=2, kill_at=5,
                                   ema=ema)
    train = [sys.executable, osp.join(TOOLS, 'train.py')]
    _run([*train, full, '--work-dir', 'uninterrupted'], tmp_path, _env())

    proc = subprocess.run([*train, killed, '--work-dir', 'resumed'], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-3000:]  # SIGKILL after iteration 5: no clean-up ran
    resumed = tmp_path / 'resumed'
    assert sorted(p for p in os.listdir(resumed) if p.endswith('.pth')) == ['iter_2.pth', 'iter_4.pth']
    _run([*train, full, '--work-dir', 'resumed', '--resume'], tmp_path, _env())

    a, b = _weights(str(tmp_path / 'uninterrupted' / 'iter_8.pth')), _weights(str(resumed / 'iter_8.pth'))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    assert _metrics(logged_metrics(str(tmp_path / 'uninterrupted'))[-1]) == _metrics(logged_metrics(str(resumed))[-1])


def test_slurm_train_and_test(data_root, tmp_path, slurm_env):
    config = write_tiny_toy_config(str(tmp_path / 'tiny.py'), data_root, iters=2, checkpoint_interval=2)
    work = str(tmp_path / 'work')
    env = _env(**slurm_env, GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1', GRES='', PORT=str(free_ports()[0]))
    train = _run([osp.join(TOOLS, 'slurm_train.sh'), PARTITION, 'tapps-train', config, work], tmp_path, env)
    log = train.stdout + train.stderr
    assert 'Distributed training: True' in log and '--launcher=slurm' in log
    (val,) = logged_metrics(work)
    assert val['pps/num_images'] == 2
    env['PORT'] = str(free_ports()[0])
    _run([osp.join(TOOLS, 'slurm_test.sh'), PARTITION, 'tapps-test', config, osp.join(work, 'iter_2.pth'),
          '--work-dir', str(tmp_path / 'test')], tmp_path, env)
    # a metric that is undefined (null: obj_without_conflicts with no parts-class object predicted) is JSON
    # null in the test results and left out of mmengine's scalar log
    tested = {k for k, v in _metrics(evaluation_results(str(tmp_path / 'test'))).items() if v is not None}
    assert tested == {k for k in val if k.startswith('pps/')}, (evaluation_results(str(tmp_path / 'test')), val)
