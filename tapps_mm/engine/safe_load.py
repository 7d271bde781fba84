"""Checkpoints load without running code: ``torch.load(weights_only=True)`` with a short allow-list.

A checkpoint is a pickle, and a pickle can call any function on load, so a file from elsewhere (a
downloaded ``.pth`` given to ``tools/test.py``, a ``load_from``) must not be unpickled freely. PyTorch's
restricted unpickler accepts tensors and plain containers; our own full (resumable) checkpoints also hold
the few other types :func:`trusted_globals` lists: numpy arrays and scalars (RNG states, message hub)
and mmengine's ``HistoryBuffer`` (the message hub's scalars, whose statistics methods are pickled as
``getattr(HistoryBuffer, name)``: allowed for exactly those names). A file that needs anything else is
refused with the file and the globals named, unless the user passes ``--unsafe-load`` (tools) or calls
:func:`allow_unsafe_load`.
"""
from __future__ import annotations

import builtins
import os.path as osp
import pickle
import re

_UNSAFE = {'allowed': False}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs globals outside the allow-list."""


def allow_unsafe_load(allowed: bool = True) -> None:
    """Load checkpoints with the full unpickler (``--unsafe-load``): only for files you trust."""
    _UNSAFE['allowed'] = allowed


#: the statistics methods HistoryBuffer registers for itself (``_statistics_methods`` fills on first use)
_HISTORY_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name: str):
    """``getattr`` as the message hub's pickles use it, and for nothing else."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and (name in _HISTORY_STATISTICS or name in HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise UnsafeCheckpointError(f'getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) is not allowed')


def trusted_globals() -> list:
    """What our own checkpoints contain beyond tensors and containers."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtypes, HistoryBuffer,
            (_history_buffer_getattr, f'{builtins.__name__}.getattr')]


def _refusal(filename: str, error: Exception) -> UnsafeCheckpointError:
    import torch
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # not a zip checkpoint: name what the unpickler stopped at
        needed = re.findall(r'GLOBAL ([\w.]+)', str(error))
    allowed = {f'{g.__module__}.{g.__qualname__}' for g in trusted_globals() if not isinstance(g, tuple)}
    names = [n for n in needed if n not in allowed and n != 'builtins.getattr']
    what = f'unpickling it would need {", ".join(names)}' if names else 'a call it makes is not allowed'
    return UnsafeCheckpointError(
        f'{filename}: refused to load: {what}, which a checkpoint of weights does not need (loading runs '
        'code it names). If you trust the file, pass --unsafe-load (tools/train.py, tools/test.py, '
        f'tools/infer.py) or call tapps_mm.engine.allow_unsafe_load(). ({error})')


def load_checkpoint_file(filename: str, map_location=None):
    """``torch.load`` of a local file, restricted unless :func:`allow_unsafe_load` was called."""
    import torch
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if _UNSAFE['allowed']:
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(trusted_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise _refusal(filename, e) from None
