"""Each known incompatibility of the pinned stack has a fix in tapps_mm.compat; each fix a test."""
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


_INIT_DIST = '''
import os, sys
os.environ.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=sys.argv[1])
import torch, torch.distributed as dist
from mmengine.dist import init_dist
if sys.argv[2] == 'fixed':
    from tapps_mm.compat import cpu_safe_init_dist
    init_dist = cpu_safe_init_dist(init_dist)
    from tapps_mm.compat import patch_mmengine
    patch_mmengine()
init_dist('pytorch', backend='nccl')
from mmengine.model import MMDistributedDataParallel
model = MMDistributedDataParallel(module=torch.nn.Linear(2, 2), device_ids=[0])
model(torch.ones(1, 2)).sum().backward()
print(dist.get_backend(), dist.get_world_size())
dist.destroy_process_group()
'''


@pytest.mark.parametrize('variant', ['unfixed', 'fixed'])
def test_distributed_setup_on_cpu_needs_fix(variant):
    import torch

    if torch.cuda.is_available():
        pytest.skip('the bug only shows without CUDA')
    # One process: MASTER_PORT 0 lets its store bind any free port, so no port can be taken meanwhile.
    proc = subprocess.run([sys.executable, '-c', _INIT_DIST, '0', variant], capture_output=True, text=True,
                          timeout=120)
    if variant == 'unfixed':
        assert proc.returncode != 0 and '_cuda_setDevice' in proc.stderr, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.split()[-2:] == ['gloo', '1']


def test_test_results_keep_integer_metrics():
    """(e): a test run's <ts>.json keeps numpy integers (mmengine wrote them as null)."""
    import numpy as np
    from mmengine.hooks import LoggerHook

    import tapps_mm.registry  # noqa: F401  (applies the fixes)
    tags = LoggerHook._process_tags({'pps/num_images': np.int64(7), 'pps/PQ': np.float64(0.5), 'x': None})
    assert tags == {'pps/num_images': 7, 'pps/PQ': 0.5, 'x': None} and type(tags['pps/num_images']) is int
