"""Checkpoints load without running code: ``torch.load(weights_only=True)`` with a short allow-list.

A checkpoint is a pickle, and a pickle can call any function on load, so a file from elsewhere (a
downloaded ``.pth`` given to ``tools/test.py``, a ``load_from``, a checkpoint to resume) must not be unpickled
freely. PyTorch's restricted unpickler accepts tensors and plain containers; our own full (resumable)
checkpoints also hold numpy arrays and scalars (RNG states, message hub) and mmengine's ``HistoryBuffer``
(the message hub's scalars, whose statistics methods are pickled as ``getattr(HistoryBuffer, name)``: allowed
for exactly those names).

numpy objects never reach numpy's own unpickling: a pickle's ``numpy.dtype``, ``_reconstruct`` and ``scalar``
calls build inert records here (:class:`_DtypeRecord`, :class:`_ArrayRecord`), whose state is checked, and
after the load each becomes a fresh array of a plain numeric dtype (bool, integer, float, complex) copied
from the file's bytes. numpy's ``dtype.__setstate__`` would accept any flags and fields, so a file could
otherwise declare bytes to be object pointers (a crash on use, or already when the array is freed).

A file that needs anything else is refused with the file and the globals named, unless the user passes
``--unsafe-load`` (tools) or calls :func:`allow_unsafe_load`.

detectron2's ``.pkl`` model files (Mask2Former's COCO-panoptic weights, the official TAPPS configs'
``MODEL.WEIGHTS``) are plain pickles of numpy arrays under ``model``: :func:`load_detectron2_pkl` reads them
with the same records (nothing else may be constructed, ``--unsafe-load`` or not) and returns a checkpoint
``{'state_dict': tensors under detectron2's names, 'meta': {'format': 'detectron2'}}``; a ``load_from`` of
one is converted into the model's names by ``Mask2FormerInitHook``.
"""
from __future__ import annotations

import builtins
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict

_UNSAFE = {'allowed': False}
#: dtype kinds an array in a checkpoint may have: bool, signed / unsigned integer, float, complex
PLAIN_KINDS = 'biufc'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs globals outside the allow-list, or holds numpy data that is not plain numbers."""


class _Refused(Exception):
    """Raised inside the unpickler by our allowed callables (not an UnpicklingError, which torch rewrites into
    its own message)."""


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
    raise _Refused(f'getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) is not allowed')


def _plain_dtype(spec):
    """The numpy dtype of a type code (``'f8'``, ``'<i4'``, ...) if it is plain numbers; else refused."""
    import numpy as np
    try:
        dtype = np.dtype(spec) if isinstance(spec, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f'numpy dtype {spec!r} is not allowed: only plain numbers '
                                    f'(kinds {PLAIN_KINDS!r}), no object, structured or sub-array dtypes')
    return dtype


class _DtypeRecord:
    """What a pickled ``numpy.dtype(code, align, copy)`` + its state become: a checked type code."""

    def __init__(self, code, align=False, copy=True):
        self.dtype = _plain_dtype(code)

    def __setstate__(self, state) -> None:
        # numpy's state: (version, byte order, sub-array, names, fields, item size, alignment, flags)
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[1] in ('<', '>', '|', '=')
                and state[2:5] == (None, None, None)):
            raise _Refused(f'numpy dtype state {state!r} is not that of a plain number type')
        if state[5:8] != (-1, -1, 0):  # what numpy writes for a plain number type
            raise _Refused(f'numpy dtype state {state!r} rewrites the size, alignment or flags of '
                                        f'{self.dtype}')
        if state[1] != '|':
            self.dtype = self.dtype.newbyteorder(state[1])


class _ArrayRecord:
    """What a pickled ``_reconstruct(ndarray, shape, code)`` + its state become: shape, dtype and bytes."""

    def __init__(self, subtype=None, shape=(0,), code=b'b'):
        if subtype is not _NoNdarray:
            raise _Refused(f'array type {subtype!r} is not allowed: only numpy.ndarray')
        self.array = None

    def __setstate__(self, state) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], _DtypeRecord)
                and isinstance(state[4], (bytes, bytearray)) and isinstance(state[1], tuple)
                and all(isinstance(n, int) and n >= 0 for n in state[1])):
            raise _Refused('numpy array state is not (version, shape, plain dtype, order, bytes)')
        self.array = _from_bytes(state[4], state[2].dtype, state[1], 'F' if state[3] else 'C')


def _from_bytes(raw: bytes, dtype, shape=(), order='C'):
    import numpy as np
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(raw) != count * dtype.itemsize:
        raise _Refused(f'numpy data of {len(raw)} bytes does not fill {shape} x {dtype}')
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order=order).copy(order='K')


def _scalar_record(dtype, raw=b''):
    """A pickled ``numpy.core.multiarray.scalar(dtype, bytes)``: the number, from a checked dtype."""
    if not isinstance(dtype, _DtypeRecord) or not isinstance(raw, (bytes, bytearray)):
        raise _Refused('numpy scalar is not (plain dtype, bytes)')
    return _from_bytes(raw, dtype.dtype)[()]


def trusted_globals() -> list:
    """What our own checkpoints contain beyond tensors and containers (numpy's names map to records)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    numpy_names = []
    for core in ('numpy.core', 'numpy._core'):  # numpy 1.x and 2.x pickles
        numpy_names += [(_ArrayRecord, f'{core}.multiarray._reconstruct'),
                        (_scalar_record, f'{core}.multiarray.scalar')]
    # bytes(): protocol 2 pickles the empty bytes of an empty array as a call of the bytes type
    return [*numpy_names, (_DtypeRecord, 'numpy.dtype'), (_NoNdarray, 'numpy.ndarray'), bytes, HistoryBuffer,
            (_history_buffer_getattr, f'{builtins.__name__}.getattr')]


class _NoNdarray:
    """``numpy.ndarray`` as a pickle names it (the first argument of ``_reconstruct``); not constructible."""

    def __init__(self, *args, **kwargs):
        raise _Refused('numpy.ndarray(...) is not allowed in a checkpoint')


def _materialize(obj, seen: dict | None = None):
    """The loaded object with every record replaced by its numpy value (containers rebuilt, HistoryBuffer
    attributes replaced in place)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    seen = {} if seen is None else seen
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, _ArrayRecord):
        if obj.array is None:
            raise _Refused('numpy array without its data')
        out = obj.array
    elif isinstance(obj, _DtypeRecord):
        out = obj.dtype
    elif isinstance(obj, OrderedDict):
        out = OrderedDict((k, _materialize(v, seen)) for k, v in obj.items())
    elif isinstance(obj, dict):
        out = {_materialize(k, seen): _materialize(v, seen) for k, v in obj.items()}
    elif isinstance(obj, list):
        out = [_materialize(v, seen) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(_materialize(v, seen) for v in obj)
    elif isinstance(obj, HistoryBuffer):
        for k, v in vars(obj).items():
            setattr(obj, k, _materialize(v, seen))
        out = obj
    else:
        out = obj
    seen[id(obj)] = out
    return out


def _refusal(filename: str, error: Exception) -> UnsafeCheckpointError:
    import torch
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # not a zip checkpoint: name what the unpickler stopped at
        needed = re.findall(r'GLOBAL ([\w.]+)', str(error))
    allowed = {g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}' for g in trusted_globals()}
    names = [n for n in needed if n not in allowed]
    what = f'unpickling it would need {", ".join(names)}' if names else 'a call it makes is not allowed'
    return UnsafeCheckpointError(
        f'{filename}: refused to load: {what}, which a checkpoint of weights does not need (loading runs '
        'code it names). If you trust the file, pass --unsafe-load (tools/train.py, tools/test.py, '
        f'tools/infer.py) or call tapps_mm.engine.allow_unsafe_load(). ({error})')


def _check_container(filename: str) -> bool:
    """A torch checkpoint is a zip archive (torch.save) or a pickle (the legacy format, detectron2's ``.pkl``):
    anything else is not one, whatever the unpickler would make of its bytes. True for a zip archive."""
    import zipfile
    if zipfile.is_zipfile(filename):
        return True
    with open(filename, 'rb') as f:
        head = f.read(2)
    if len(head) < 2 or head[0] != 0x80:  # pickle protocol 2+ starts with PROTO
        raise ValueError(f'{filename}: not a readable checkpoint (neither a zip archive nor a pickle; '
                         f'{"empty" if not head else "starts with " + repr(head)})')
    return False


def load_checkpoint_file(filename: str, map_location=None):
    """``torch.load`` of a local file, restricted unless :func:`allow_unsafe_load` was called; a detectron2
    ``.pkl`` through :func:`load_detectron2_pkl`."""
    import torch
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if not _check_container(filename) and filename.endswith('.pkl'):
        return load_detectron2_pkl(filename)
    if _UNSAFE['allowed']:
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(trusted_globals()):
            return _materialize(torch.load(filename, map_location=map_location, weights_only=True))
    except _Refused as e:
        raise UnsafeCheckpointError(f'{filename}: refused to load: {e}. If you trust the file, pass --unsafe-load '
                                    '(tools/train.py, tools/test.py, tools/infer.py) or call '
                                    'tapps_mm.engine.allow_unsafe_load().') from None
    except pickle.UnpicklingError as e:
        raise _refusal(filename, e) from None
    except (EOFError, RuntimeError, KeyError, ValueError, OSError) as e:  # empty, truncated, not a checkpoint
        raise ValueError(f'{filename}: not a readable checkpoint ({type(e).__name__}: {e})') from None


def _latin1_bytes(text, encoding='latin1') -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (``encode(text, 'latin1')``), and nothing else."""
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise _Refused(f'_codecs.encode({type(text).__name__}, {encoding!r}) is not allowed')
    return text.encode('latin1')


def _empty_bytes(*args) -> bytes:
    """``bytes()`` as protocol-2 pickles write the empty bytes of an empty array (no arguments: no allocation)."""
    if args:
        raise _Refused('bytes(...) with arguments is not allowed')
    return b''


#: what a detectron2 ``.pkl`` may name: numpy's array and scalar pickling (as the records), plain containers
_D2_GLOBALS = {
    **{(core, name): record for core in ('numpy.core.multiarray', 'numpy._core.multiarray')
       for name, record in (('_reconstruct', _ArrayRecord), ('scalar', _scalar_record))},
    ('numpy', 'dtype'): _DtypeRecord, ('numpy', 'ndarray'): _NoNdarray, ('collections', 'OrderedDict'): OrderedDict,
    ('_codecs', 'encode'): _latin1_bytes, ('builtins', 'bytes'): _empty_bytes,
    ('__builtin__', 'bytes'): _empty_bytes}


class _Detectron2Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _D2_GLOBALS:
            return _D2_GLOBALS[(module, name)]
        raise _Refused(f'unpickling it would need {module}.{name}, which a detectron2 model file (numpy arrays) '
                       'does not need (loading runs code it names)')


def load_detectron2_pkl(filename: str) -> dict:
    """A detectron2 ``.pkl`` model file (numpy arrays under ``model``) as a checkpoint:
    ``{'state_dict': {detectron2 name: tensor}, 'meta': {'format': 'detectron2', 'author': ...}}``."""
    import numpy as np
    import torch
    try:
        with open(filename, 'rb') as f:
            data = _materialize(_Detectron2Unpickler(f, encoding='latin1').load())  # as detectron2 reads them
    except _Refused as e:
        raise UnsafeCheckpointError(f'{filename}: refused to load: {e}') from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError) as e:
        raise ValueError(f'{filename}: not a readable checkpoint ({type(e).__name__}: {e})') from None
    model = data.get('model') if isinstance(data, dict) else None
    if not (isinstance(model, dict) and model and all(isinstance(v, (np.ndarray, np.generic)) for v in model.values())):
        raise ValueError(f'{filename}: not a detectron2 model file (a pickle with the weights as numpy arrays '
                         f'under "model"; it holds {_outline(data)})')
    state = OrderedDict((k, torch.as_tensor(v)) for k, v in model.items())
    return {'state_dict': state, 'meta': {'format': 'detectron2', 'author': data.get('__author__')}}


def _outline(data) -> str:
    if isinstance(data, dict):
        return 'a dict of ' + ', '.join(repr(k) for k in list(data)[:5]) + (' ...' if len(data) > 5 else '')
    return type(data).__name__


def url_cache_path(url: str, model_dir: str | None = None) -> str:
    """Where a URL's checkpoint is cached: torch hub's ``checkpoints/`` folder, in a subfolder named by the
    URL's hash (two URLs that end in the same file name are two files), under the URL's file name made safe."""
    import hashlib
    from urllib.parse import urlparse

    from torch.hub import get_dir
    name = re.sub(r'[^A-Za-z0-9._-]', '_', osp.basename(urlparse(url).path)).lstrip('.') or 'checkpoint.pth'
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return osp.join(model_dir or osp.join(get_dir(), 'checkpoints'), key, name)


def load_checkpoint_url(url: str, map_location=None, model_dir: str | None = None, progress: bool | None = None):
    """A remote checkpoint (``http(s)://``, and mmengine's ``torchvision://`` / ``open-mmlab://`` names that
    resolve to one): downloaded once into :func:`url_cache_path` (rank 0 first, as mmengine does) and loaded by
    :func:`load_checkpoint_file`, the same policy as a local file. A download enters the cache only once it
    loads: one cut short (a server that sends no length cannot be checked otherwise) is removed and reported."""
    from mmengine.dist import barrier, get_dist_info
    from torch.hub import download_url_to_file
    cached = url_cache_path(url, model_dir)

    def fetch():
        if osp.isfile(cached):
            try:
                return load_checkpoint_file(cached, map_location)
            except ValueError as e:
                raise ValueError(f'{url}: the cached copy is not readable ({e}); delete {cached} to download it '
                                 'again') from None
        os.makedirs(osp.dirname(cached), exist_ok=True)
        part = f'{cached}.part{os.getpid()}'
        try:
            try:
                download_url_to_file(url, part, progress=os.isatty(0) if progress is None else progress)
            except Exception as e:
                raise OSError(f'{url}: download failed ({type(e).__name__}: {e})') from None
            try:
                checkpoint = load_checkpoint_file(part, map_location)
            except UnsafeCheckpointError as e:  # named by its URL, not by the temporary file
                raise UnsafeCheckpointError(f'{str(e).replace(part, url)} (nothing was cached)') from None
            except ValueError as e:
                raise ValueError(f'{url}: the download is not a readable checkpoint (cut short?); nothing was '
                                 f'cached ({e})') from None
            os.replace(part, cached)
            return checkpoint
        finally:
            if osp.exists(part):
                os.remove(part)

    rank, world_size = get_dist_info()
    if world_size == 1:
        return fetch()
    checkpoint = fetch() if rank == 0 else None
    barrier()
    return checkpoint if rank == 0 else fetch()


def load_named_checkpoint(filename: str, map_location=None):
    """A model named by mmengine's ``torchvision://``, ``modelzoo://``, ``open-mmlab://``, ``openmmlab://`` or
    ``mmcls://`` schemes (the backbones' ``torchvision://resnet50``): resolved by mmengine's own tables to a
    URL (or, for some ``open-mmlab://`` names, a file under mmengine's home) and loaded by the same policy as
    any checkpoint (mmengine's loaders for these unpickle with torch hub's full unpickler)."""
    from mmengine.runner import checkpoint as mm
    scheme, name = filename.split('://', 1)
    if scheme in ('torchvision', 'modelzoo'):
        target = mm.get_torchvision_models()[name]
    elif scheme == 'mmcls':
        target = mm.get_mmcls_models()[name]
    else:
        target = mm.get_external_models()[mm.get_deprecated_model_names().get(name, name)]
    if target.startswith(('http://', 'https://')):
        checkpoint = load_checkpoint_url(target, map_location)
    else:
        checkpoint = load_checkpoint_file(osp.join(mm._get_mmengine_home(), target), map_location)
    return mm._process_mmcls_checkpoint(checkpoint) if scheme == 'mmcls' else checkpoint


def refuse_scheme(filename: str, map_location=None):
    """A checkpoint scheme whose loader would bypass the policy (``pavi://``)."""
    raise UnsafeCheckpointError(f'{filename}: this scheme is not supported (its loader would unpickle the file '
                                'outside the checkpoint policy); download the file and pass its path')
