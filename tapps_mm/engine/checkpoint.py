"""Checkpoints that survive a kill: atomic writes, and a resume point that is always a complete file.

mmengine writes ``iter_N.pth`` in place and then ``last_checkpoint`` with a bare ``open``; a run killed
during either leaves a truncated file that ``--resume`` would pick. Configs select
``AtomicLocalBackend`` through ``CheckpointHook(backend_args=dict(backend='atomic_local'))``, and
``tools/train.py --resume`` resolves the checkpoint with :func:`find_resume_checkpoint`.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from pathlib import Path

from mmengine.fileio import LocalBackend, register_backend

from tapps_mm.fileio import atomic_path

_CHECKPOINT_NAME = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


@register_backend('atomic_local', force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local backend whose writes go to a temporary file renamed into place when complete."""

    def put(self, obj: bytes, filepath: str | Path) -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        with atomic_path(str(filepath)) as tmp, open(tmp, 'wb') as f:
            f.write(obj)
            f.flush()
            os.fsync(f.fileno())

    def put_text(self, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


def find_resume_checkpoint(work_dir: str) -> str | None:
    """The checkpoint to resume from: the one ``last_checkpoint`` names if it exists, else the newest
    ``iter_N.pth`` / ``epoch_N.pth`` in ``work_dir`` (temporary files never match); None if there is none."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            return named
    if not osp.isdir(work_dir):
        return None
    found = [(int(m.group(1)), name) for name in os.listdir(work_dir) if (m := _CHECKPOINT_NAME.match(name))]
    return osp.join(work_dir, max(found)[1]) if found else None
