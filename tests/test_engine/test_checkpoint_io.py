"""Kill-safe checkpoints: atomic writes through mmengine's file backend, and the resume point."""
import os

import pytest
from mmengine.fileio import get_file_backend

from tapps_mm.engine import AtomicLocalBackend, find_resume_checkpoint


def test_checkpoint_hook_backend_args_select_the_atomic_backend(tmp_path):
    backend = get_file_backend(str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put(b'complete', str(tmp_path / 'sub' / 'iter_2.pth'))
    backend.put_text('x/iter_2.pth', str(tmp_path / 'last_checkpoint'))
    assert (tmp_path / 'sub' / 'iter_2.pth').read_bytes() == b'complete'
    assert (tmp_path / 'last_checkpoint').read_text() == 'x/iter_2.pth'


def test_interrupted_write_leaves_the_previous_file_and_no_partial_one(tmp_path, monkeypatch):
    target = tmp_path / 'iter_4.pth'
    target.write_bytes(b'old complete checkpoint')

    def dies(fd):
        raise KeyboardInterrupt('killed while writing')
    monkeypatch.setattr(os, 'fsync', dies)
    with pytest.raises(KeyboardInterrupt):
        AtomicLocalBackend().put(b'new checkpoint, half written', str(target))
    assert target.read_bytes() == b'old complete checkpoint'
    assert os.listdir(tmp_path) == ['iter_4.pth']


def test_resume_point(tmp_path):
    assert find_resume_checkpoint(str(tmp_path / 'missing')) is None
    assert find_resume_checkpoint(str(tmp_path)) is None
    for name in ('iter_2.pth', 'iter_10.pth', 'iter_12.tmp123.pth', 'best_pps_PartPQ_iter_2.pth'):
        (tmp_path / name).write_bytes(b'x')
    # no pointer: the newest complete iter_N.pth (numerically), never a temporary file
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    # a pointer cut short by a kill, or to a deleted file, falls back to the newest checkpoint
    for text in ('', str(tmp_path / 'iter_14.pth')):
        (tmp_path / 'last_checkpoint').write_text(text)
        assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')
