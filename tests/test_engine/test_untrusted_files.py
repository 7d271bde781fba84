"""Files from elsewhere never run code and never crash the process: each attack of issue 25, crafted as an
attacker would, leaves no marker file and ends in an error that names the file and says why.

1. a checkpoint whose ``meta['config']`` is Python (mmengine's resume ran it), by ``--resume FILE`` and by
   plain ``--resume`` from the work dir;
2. a checkpoint served over http(s) (mmengine's loader used the full unpickler), from a local server;
3. a work dir whose dumped config has an extra line (collecting runs ran it);
4. numpy data that declares bytes to be object pointers: a structured dtype with an object field, an object
   dtype, a float dtype whose state sets the 'has objects' flag, each also nested inside ``meta``.
"""
from __future__ import annotations

import functools
import http.server
import os
import os.path as osp
import subprocess
import sys
import threading
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tapps_mm.registry  # noqa: F401  (applies the loader policy to mmengine)
from tapps_mm.engine.safe_load import UnsafeCheckpointError, load_checkpoint_file
from tapps_mm.testing.launch import write_tiny_toy_config
from tapps_mm.testing.repo import REPO

PAYLOADS = {  # two forms of Python that would run if a config string were executed
    'expression': "__import__('os').system('touch {marker}')\nx = 1\n",
    'import': "import os\nos.system('touch {marker}')\nx = 1\n",
}


class _Runs:
    """An object whose unpickling runs ``os.system`` (the classic pickle payload)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class _Raw:
    """Pickles as ``func(*args)`` + ``state``: builds numpy objects the way a crafted file would."""

    def __init__(self, func, args, state=None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _object_field_array():
    """A structured array whose object field is 8 bytes from the file (a pointer on use)."""
    return _Raw(np._core.multiarray._reconstruct, (np.ndarray, (0,), b'b'),
                (1, (1,), np.dtype([('a', 'O')]), False, b'A' * 8))


def _flagged_float_dtype():
    """float64 whose pickled state sets the 'has objects' flags (a dtype rewrite)."""
    return _Raw(np.dtype, ('f8', False, True), (3, '<', None, None, None, -1, -1, 0x3f))


NUMPY_ATTACKS = {
    'structured-object-field': lambda: _object_field_array(),
    'object-dtype-array': lambda: _Raw(np._core.multiarray._reconstruct, (np.ndarray, (0,), b'b'),
                                       (1, (1,), np.dtype('O'), False, b'A' * 8)),
    'flagged-dtype-array': lambda: _Raw(np._core.multiarray._reconstruct, (np.ndarray, (0,), b'b'),
                                        (1, (1,), _flagged_float_dtype(), False, b'A' * 8)),
    'flagged-dtype-scalar': lambda: _Raw(np._core.multiarray.scalar, (_flagged_float_dtype(), b'A' * 8)),
    'nested-in-meta': lambda: {'hub': [OrderedDict(x=(1, {'deep': _object_field_array()}))]},
}


def _save(obj, path) -> str:
    torch.save(obj, str(path))
    return str(path)


# ------------------------------------------------------------------------------ 4. numpy that is not numbers
@pytest.mark.parametrize('attack', list(NUMPY_ATTACKS))
def test_numpy_that_is_not_plain_numbers_is_refused(attack, tmp_path):
    path = _save({'state_dict': {}, 'meta': {'epoch': 0, 'iter': 0, 'x': NUMPY_ATTACKS[attack]()}},
                 tmp_path / f'{attack}.pth')
    # in a child process: a crash (segmentation fault) would otherwise take the test runner with it
    code = ('import tapps_mm.registry\nfrom tapps_mm.engine.safe_load import load_checkpoint_file\n'
            f'import gc\nc = load_checkpoint_file({path!r})\nprint(repr(c)[:200])\ngc.collect()\n')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])  # an exception, not a signal
    assert 'UnsafeCheckpointError' in res.stderr and path in res.stderr and 'refused to load' in res.stderr
    assert 'plain' in res.stderr or 'not allowed' in res.stderr


def test_detectron2_pkl_with_numpy_that_is_not_plain_numbers_is_refused(tmp_path):
    """The same attacks in a detectron2 ``.pkl`` (a plain pickle: a ``load_from`` of Mask2Former's weights),
    at both pickle protocols; plain arrays of the same file format load."""
    import pickle
    paths = []
    for attack in NUMPY_ATTACKS:
        for protocol in (2, 4):
            paths.append(str(tmp_path / f'{attack}-{protocol}.pkl'))
            with open(paths[-1], 'wb') as f:
                pickle.dump({'model': {'w': np.ones(2, np.float32), 'x': NUMPY_ATTACKS[attack]()}}, f, protocol)
    code = ('import tapps_mm.registry, gc\nfrom tapps_mm.engine.safe_load import load_checkpoint_file\n'
            f'for path in {paths!r}:\n'
            '    try:\n        c = load_checkpoint_file(path)\n        print("LOADED", path, repr(c)[:200])\n'
            '    except Exception as e:\n        print(type(e).__name__, e)\n    gc.collect()\n')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])  # no crash
    lines = res.stdout.splitlines()
    assert len(lines) == len(paths) and not any(line.startswith('LOADED') for line in lines), res.stdout
    for path, line in zip(paths, lines):
        assert line.startswith('UnsafeCheckpointError') and f'{path}: refused to load' in line, line
    with open(tmp_path / 'plain.pkl', 'wb') as f:
        pickle.dump({'model': {'w': np.arange(6, dtype=np.float32).reshape(2, 3)}}, f, 2)
    assert torch.equal(load_checkpoint_file(str(tmp_path / 'plain.pkl'))['state_dict']['w'],
                       torch.arange(6.0).reshape(2, 3))


def test_our_own_numpy_objects_still_load(tmp_path):
    """What our resumable checkpoints hold: arrays of every plain kind and order, scalars, RNG state."""
    from mmengine.logging.history_buffer import HistoryBuffer
    hub = HistoryBuffer()
    hub.update(1.5)
    hub.update(2.0, 3)
    values = [np.arange(6).reshape(2, 3), np.asfortranarray(np.ones((2, 3), '>f4')), np.array([True, False]),
              np.float64(2.5), np.int64(3), np.complex64(1 + 2j), np.zeros((0, 3)), np.uint8(7)]
    state = np.random.get_state()
    path = _save({'state_dict': OrderedDict(w=torch.ones(2)), 'meta': {'np': values, 'rng': state, 'hub': hub}},
                 tmp_path / 'ours.pth')
    out = load_checkpoint_file(path)
    for a, b in zip(values, out['meta']['np']):
        assert type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    assert out['meta']['np'][1].flags.f_contiguous
    rng = out['meta']['rng']
    assert rng[0] == state[0] and rng[1].dtype == state[1].dtype and np.array_equal(rng[1], state[1])
    assert rng[2:] == state[2:]
    assert out['meta']['hub'].mean() == hub.mean() and torch.equal(out['state_dict']['w'], torch.ones(2))


@pytest.mark.parametrize('content,why', [(b'', 'empty'), (b'not a checkpoint\n', 'text'), ('truncated', None)])
def test_unreadable_checkpoints_name_the_file(content, why, tmp_path):
    path = tmp_path / 'broken.pth'
    if content == 'truncated':
        full = _save({'state_dict': {'w': torch.ones(100)}}, tmp_path / 'full.pth')
        content = open(full, 'rb').read()[:300]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f'{path}: not a readable checkpoint'):
        load_checkpoint_file(str(path))


# ------------------------------------------------------------------------------ 2. remote files
@pytest.fixture
def served(tmp_path):
    """A local http server on the loopback address serving ``tmp_path / 'www'``, stopped after the test."""
    root = tmp_path / 'www'
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.timeout = 10
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_a_served_checkpoint_is_loaded_by_the_same_policy(served, tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader
    root, url = served
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))  # the download cache
    marker = tmp_path / 'ran'
    _save({'state_dict': {'w': torch.ones(1)}, 'meta': {'payload': _Runs(str(marker))}}, root / 'evil.pth')
    _save({'state_dict': {'w': torch.ones(1)}}, root / 'good.pth')
    load = CheckpointLoader.load_checkpoint  # what load_from, --checkpoint and resume go through
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth: refused to load: unpickling it would need'):
        load(f'{url}/evil.pth', map_location='cpu')
    assert not marker.exists()
    assert torch.equal(load(f'{url}/good.pth', map_location='cpu')['state_dict']['w'], torch.ones(1))
    with pytest.raises(OSError, match='missing.pth: download failed'):
        CheckpointLoader.load_checkpoint(f'{url}/missing.pth', map_location='cpu')
    with pytest.raises(UnsafeCheckpointError, match='pavi://x.pth: this scheme is not supported'):
        CheckpointLoader.load_checkpoint('pavi://x.pth')


@pytest.mark.parametrize('scheme, table', [('torchvision://', 'get_torchvision_models'),
                                           ('open-mmlab://', 'get_external_models')])
def test_a_named_model_is_loaded_by_the_same_policy(scheme, table, served, tmp_path, monkeypatch):
    """mmengine's named models (the backbones' torchvision://resnet50) resolve to a URL, loaded by the policy."""
    import mmengine.runner.checkpoint as mm
    from mmengine.runner.checkpoint import CheckpointLoader
    root, url = served
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    marker = tmp_path / 'ran'
    _save({'state_dict': {'w': torch.ones(1)}, 'meta': {'payload': _Runs(str(marker))}}, root / 'evil.pth')
    _save({'state_dict': {'w': torch.ones(1)}}, root / 'good.pth')
    monkeypatch.setattr(mm, table, lambda: {'evil': f'{url}/evil.pth', 'good': f'{url}/good.pth'})
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth: refused to load'):
        CheckpointLoader.load_checkpoint(f'{scheme}evil', map_location='cpu')
    assert not marker.exists()
    assert torch.equal(CheckpointLoader.load_checkpoint(f'{scheme}good', map_location='cpu')['state_dict']['w'],
                       torch.ones(1))


# ------------------------------------------------------------------------------ 1. resume
@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """A tiny config on a tiny synthetic dataset (2 iterations), and a real checkpoint of it after iteration 1."""
    from tapps_mm.testing.fake_datasets import write_fake_synthetic_pp
    root = tmp_path_factory.mktemp('untrusted')
    write_fake_synthetic_pp(str(root / 'data'), num_train=2, num_val=1, size=(64, 64))
    config = write_tiny_toy_config(str(root / 'tiny.py'), str(root / 'data'), iters=1, checkpoint_interval=1)
    res = _train(config, str(root / 'first'))
    assert res.returncode == 0, res.stderr[-3000:]
    config2 = write_tiny_toy_config(str(root / 'tiny2.py'), str(root / 'data'), iters=2, checkpoint_interval=1)
    return config2, str(root / 'first' / 'iter_1.pth')


def _train(config: str, work_dir: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work_dir,
                           *args], capture_output=True, text=True, timeout=600, cwd=REPO)


def _with_config(checkpoint: str, text: str, path) -> str:
    """Our own checkpoint with ``meta['config']`` replaced by ``text`` (what an attacker would edit)."""
    data = load_checkpoint_file(checkpoint)
    data['meta']['config'] = text
    return _save(data, path)


@pytest.mark.parametrize('form', list(PAYLOADS))
@pytest.mark.parametrize('how', ['--resume FILE', '--resume (work dir)'])
def test_resume_does_not_run_the_checkpoints_config(tiny_run, form, how, tmp_path):
    """A real checkpoint whose config is a payload resumes (the config is not run; the other config is
    reported); the issue's bare file (no weights) is refused, naming it."""
    config, checkpoint = tiny_run
    marker = tmp_path / 'ran'
    payload = PAYLOADS[form].format(marker=marker)
    work = tmp_path / 'work'
    work.mkdir()
    if how == '--resume FILE':
        res = _train(config, str(work), '--resume', _with_config(checkpoint, payload, tmp_path / 'evil.pth'))
    else:  # dropped into the work dir, picked up by plain --resume
        _with_config(checkpoint, payload, work / 'iter_1.pth')
        res = _train(config, str(work), '--resume')
    assert not marker.exists()
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'was saved by another config than this run' in res.stdout + res.stderr
    if how != '--resume FILE':
        return  # the bare file below is given by name: once per payload is enough
    bare = {'state_dict': {}, 'meta': {'epoch': 0, 'iter': 0, 'config': payload}}  # the file
    res = _train(config, str(tmp_path / 'work2'), '--resume', _save(bare, tmp_path / 'bare.pth'))
    assert not marker.exists()
    assert res.returncode == 1 and 'bare.pth' in res.stderr and 'not one tensor of it fits' in res.stderr, \
        res.stderr[-3000:]


def test_resume_of_a_crafted_numpy_checkpoint_fails_cleanly(tiny_run, tmp_path):
    """The issue's crash: --resume of a file whose numpy data declares object pointers."""
    path = _save({'state_dict': {}, 'meta': {'epoch': 0, 'iter': 0, 'x': _object_field_array()}},
                 tmp_path / 'crash.pth')
    res = _train(tiny_run[0], str(tmp_path / 'work'), '--resume', path)
    assert res.returncode == 1, (res.returncode, res.stderr[-3000:])
    assert f'{path}: refused to load' in res.stderr


# ------------------------------------------------------------------------------ 3. collected work dirs
@pytest.mark.parametrize('form', list(PAYLOADS))
def test_collecting_a_work_dir_does_not_run_its_config(form, tmp_path):
    from benchmarks.collect import RunError, read_run
    stem = 'tapps_r18-toy_1xb8-1000it_synthetic'
    run = tmp_path / stem / 'seed0'
    (run / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (run / '20260101_000000' / 'vis_data' / 'scalars.json').write_text('{"loss": 1.0, "iter": 1, "step": 1}\n')
    marker = tmp_path / 'ran'
    (run / f'{stem}.py').write_text('train_cfg = dict(max_iters=2, val_interval=2)\n'
                                    + PAYLOADS[form].format(marker=marker))
    with pytest.raises(RunError, match=rf'{stem}\.py: line 2: .* not'):
        read_run(str(run))
    assert not marker.exists()
