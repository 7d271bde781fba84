"""Each known incompatibility of the pinned stack has a fix (in tapps_mm.compat when it must happen at import,
otherwise a class of tapps_mm.engine chosen by the runtime config); each fix a test."""
import subprocess
import sys

import pytest


def test_panoptic_parts_import_fails_without_fix_on_py310plus():
    if sys.version_info < (3, 10):
        pytest.skip('the bug only shows on Python >= 3.10')
    proc = subprocess.run([sys.executable, '-c', 'import panoptic_parts.specs.dataset_spec'],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and 'At least Python 3.7' in proc.stderr


def test_panoptic_parts_imports_with_fix():
    code = ('from tapps_mm.compat import import_panoptic_parts; import_panoptic_parts(); '
            'from panoptic_parts.specs.eval_spec import PartPQEvalSpec; '
            'from panoptic_parts.utils.format import decode_uids; print(decode_uids(2300304))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '(23, 3, 4)'


def _save_full_checkpoint(path):
    import torch
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub.get_instance('compat_test')
    hub.update_scalar('train/loss', 1.5)
    torch.save({'meta': {'epoch': 1}, 'state_dict': {'w': torch.ones(2)},
                'message_hub': hub.state_dict(), 'extra': HistoryBuffer([1.0, 2.0], [1, 1])}, path)


def test_full_checkpoint_needs_fix_on_torch_26plus(tmp_path):
    import torch
    path = tmp_path / 'full.pth'
    _save_full_checkpoint(path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)  # what mmengine 0.10.7 does (no weights_only argument)


def test_full_checkpoint_loads_through_mmengine_with_fix(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint

    import tapps_mm.registry  # noqa: F401  (applies the fix)
    path = tmp_path / 'full.pth'
    _save_full_checkpoint(path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['epoch'] == 1
    assert 'log_scalars' in ckpt['message_hub']


def test_pkg_resources_available_and_clear_error_when_missing():
    from tapps_mm.compat import ensure_pkg_resources
    ensure_pkg_resources()  # the pinned setuptools (<81) ships it
    code = ('import sys; sys.modules["pkg_resources"] = None\n'
            'from tapps_mm.compat import ensure_pkg_resources\n'
            'try:\n    ensure_pkg_resources()\nexcept ImportError as e:\n    print(e)\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert "setuptools>=77,<81" in proc.stdout, proc.stdout + proc.stderr


def test_mmengine_package_utils_work():
    from mmengine.utils import get_installed_path, is_installed

    import tapps_mm.registry  # noqa: F401
    assert is_installed('mmdet')
    assert get_installed_path('mmdet')


_DIST_RUNNER = '''
import os, sys
os.environ.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=sys.argv[1])
import torch, torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner
from tapps_mm.registry import RUNNERS
cfg = Config.fromfile(sys.argv[3])  # the runtime every config inherits: runner_type, model_wrapper_cfg, env_cfg
cfg.merge_from_dict(dict(model=dict(type='ResNet', depth=18, base_channels=8), work_dir=sys.argv[4],
                         launcher='pytorch', log_level='WARNING'))
runner = RUNNERS.build(cfg) if sys.argv[2] == 'fixed' else Runner.from_cfg(cfg)
runner.model(torch.ones(2, 3, 64, 64))[-1].sum().backward()
print(type(runner).__name__, type(runner.model).__name__, runner.model.device_ids, dist.get_backend(),
      dist.get_world_size())
dist.destroy_process_group()
'''


@pytest.mark.parametrize('variant', ['unfixed', 'fixed'])
def test_distributed_setup_on_cpu_needs_fix(variant, tmp_path):
    """The runner of the configs starts a distributed run without CUDA: gloo, and DDP without device_ids."""
    import torch

    from tapps_mm.testing.repo import REPO
    if torch.cuda.is_available():
        pytest.skip('the bug only shows without CUDA')
    # One process: MASTER_PORT 0 lets its store bind any free port, so no port can be taken meanwhile.
    runtime = f'{REPO}/configs/_base_/default_runtime.py'
    proc = subprocess.run([sys.executable, '-c', _DIST_RUNNER, '0', variant, runtime, str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    if variant == 'unfixed':  # mmengine's Runner
        assert proc.returncode != 0 and '_cuda_setDevice' in proc.stderr, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.split()[-5:] == ['TappsRunner', 'CPUSafeDistributedDataParallel', 'None', 'gloo', '1']


def test_test_results_keep_integer_metrics():
    """The configs' logger hook writes a test run's numpy integers to <ts>.json (mmengine's wrote them as null)."""
    import numpy as np
    from mmengine.config import Config
    from mmengine.hooks import LoggerHook

    from tapps_mm.registry import HOOKS
    from tapps_mm.testing.repo import REPO
    runtime = Config.fromfile(f'{REPO}/configs/_base_/default_runtime.py')
    hook = HOOKS.build(runtime.default_hooks.logger)
    metrics = {'pps/num_images': np.int64(7), 'pps/PQ': np.float64(0.5), 'x': None}
    assert LoggerHook._process_tags(metrics)['pps/num_images'] is None  # mmengine's, unchanged
    tags = hook._process_tags(metrics)
    assert tags == {'pps/num_images': 7, 'pps/PQ': 0.5, 'x': None} and type(tags['pps/num_images']) is int


def test_only_the_main_process_writes_the_test_results(tmp_path, monkeypatch):
    """Every rank of a distributed test dumped <ts>.json at once in mmengine (two JSON documents in one file,
    seen with 2 processes); the configs' logger hook writes it from the main process only."""
    from types import SimpleNamespace

    from mmengine.config import Config

    from tapps_mm.engine.hooks import numpy_scalar_logger_hook
    from tapps_mm.registry import HOOKS
    from tapps_mm.testing.repo import REPO
    hook = HOOKS.build(Config.fromfile(f'{REPO}/configs/_base_/default_runtime.py').default_hooks.logger)
    hook.json_log_path = 'results.json'
    processor = SimpleNamespace(get_log_after_epoch=lambda *args, **kwargs: ({'pps/PQ': 0.5}, 'PQ 0.5'))
    runner = SimpleNamespace(log_processor=processor, test_dataloader=[0], log_dir=str(tmp_path),
                             logger=SimpleNamespace(info=lambda text: None))
    for main, written in ((False, False), (True, True)):
        monkeypatch.setattr(numpy_scalar_logger_hook, 'is_main_process', lambda: main)
        hook.after_test_epoch(runner)
        assert (tmp_path / 'results.json').is_file() == written


_IMPORT_EVERYTHING = '''
import importlib, pkgutil
import mmengine.dist, mmengine.dist.utils, mmengine.runner.checkpoint, mmengine.runner.runner
from mmengine.hooks import LoggerHook
from mmengine.model import MMDistributedDataParallel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader
watched = [Runner, MMDistributedDataParallel, LoggerHook, mmengine.runner.runner, mmengine.dist, mmengine.dist.utils,
           mmengine.runner.checkpoint]
before = [dict(vars(x)) for x in watched]
schemes = dict(CheckpointLoader._schemes)
import tapps_mm
for module in pkgutil.walk_packages(tapps_mm.__path__, 'tapps_mm.'):
    importlib.import_module(module.name)
print(sorted(f'{x.__name__}.{k}' for x, old in zip(watched, before) for k in old if vars(x).get(k) is not old[k]))
now = CheckpointLoader._schemes
print(sorted(p for p in set(schemes) | set(now) if schemes.get(p) is not now.get(p)))
'''


def test_importing_tapps_mm_replaces_nothing_in_mmengine():
    """Every module of the package imported: mmengine's Runner, init_dist, DDP wrapper, LoggerHook and checkpoint
    functions are still mmengine's own; what changed is only the checkpoint loaders registered as
    CheckpointLoader schemes (fix (b), the one entry point of every checkpoint load)."""
    proc = subprocess.run([sys.executable, '-c', _IMPORT_EVERYTHING], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    replaced, schemes = proc.stdout.strip().splitlines()[-2:]
    assert replaced == '[]'
    assert schemes == str(sorted(['', 'http://', 'https://', 'torchvision://', 'modelzoo://', 'open-mmlab://',
                                  'openmmlab://', 'mmcls://', 'pavi://']))
