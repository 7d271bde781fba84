"""Atomic file writing: a killed run never leaves a partial file that looks complete."""
from __future__ import annotations

import contextlib
import json
import os
import os.path as osp


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path beside ``path`` (same extension); it replaces ``path`` only if the
    block completes, and is removed otherwise."""
    stem, ext = osp.splitext(path)
    tmp = f'{stem}.tmp{os.getpid()}{ext}'
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_text_atomic(text: str, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        f.write(text)


def write_json_atomic(obj, path: str) -> None:
    """Valid JSON only: a NaN or infinity raises instead of being written as the non-JSON ``NaN``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    write_text_atomic(json.dumps(obj, indent=2, allow_nan=False), path)
