"""What must change in the pinned stack when ``tapps_mm`` is imported, each saying why there is no other way.

(a) panoptic-parts 2.0rc6 does not import on Python >= 3.10: ``specs/dataset_spec.py`` compares
    ``float(platform.python_version()[:3])`` ('3.1' for 3.10+) against 3.6 and raises, at import time.
(b) mmengine 0.10.7 loads checkpoints with a bare ``torch.load`` (torch >= 2.6: ``weights_only=True``, which
    rejects the message hub of a full, resumable checkpoint) and remote ones (``http(s)://``, the
    ``torchvision://`` / ``open-mmlab://`` names) with torch hub's full unpickler, which lets a file from
    elsewhere run code. Every checkpoint goes through the one policy of ``tapps_mm.engine.safe_load``
    instead: ``weights_only=True`` with exactly the types our checkpoints hold, remote files downloaded and
    loaded like local ones, ``pavi://`` refused.
(c) mmengine 0.10.7 imports ``pkg_resources``, which setuptools >= 81 no longer ships: checked before
    mmengine is imported, so the error says which setuptools to install.

The other fixes for mmengine 0.10.7 (4 - 6 of the known incompatibilities in ``docs/get_started.md``) are
the project's own classes, chosen in ``configs/_base_/default_runtime.py``, and change nothing in mmengine:
the runner (``tapps_mm.engine.runner.TappsRunner``: a checkpoint's ``meta['config']`` is never run, failing
checkpoints are named, distributed runs start over gloo without CUDA), the DDP wrapper
(``CPUSafeDistributedDataParallel``: no ``device_ids`` for a CPU model) and the logger hook
(``NumpyScalarLoggerHook``: integer metrics are not written as null).
"""
from __future__ import annotations

import functools
import importlib
import platform
import sys
import warnings
from unittest import mock

_PP_PATCHED_VERSION = '3.9.0'


def import_panoptic_parts():
    """Import ``panoptic_parts`` (fix (a)): its version check only runs at import time, so the Python version
    it reads is faked for that one import."""
    if 'panoptic_parts.specs.dataset_spec' not in sys.modules:
        with mock.patch.object(platform, 'python_version', return_value=_PP_PATCHED_VERSION):
            importlib.import_module('panoptic_parts.specs.dataset_spec')
    return importlib.import_module('panoptic_parts')


def ensure_pkg_resources() -> None:
    """Fix (c): fail with an actionable message instead of a bare ImportError deep in mmengine."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)
        try:
            importlib.import_module('pkg_resources')
        except ImportError as e:  # setuptools >= 81 removed it
            raise ImportError(
                'mmengine 0.10.7 needs `pkg_resources`, which setuptools >= 81 removed. '
                "Install a compatible setuptools: pip install 'setuptools>=77,<81'") from e


# CheckpointLoader logs 'Loads checkpoint by <name[10:]> backend': the '_load_from' prefix keeps that readable.
def _load_from_local(filename: str, map_location=None):
    from tapps_mm.engine.safe_load import load_checkpoint_file
    return load_checkpoint_file(filename, map_location)


def _load_from_url(filename: str, map_location=None):
    from tapps_mm.engine.safe_load import load_checkpoint_url
    return load_checkpoint_url(filename, map_location)


def _load_from_name(filename: str, map_location=None):
    from tapps_mm.engine.safe_load import load_named_checkpoint
    return load_named_checkpoint(filename, map_location)


def _load_from_refused(filename: str, map_location=None):
    from tapps_mm.engine.safe_load import refuse_scheme
    return refuse_scheme(filename)


def register_checkpoint_loaders() -> None:
    """Fix (b): our loaders registered as mmengine's ``CheckpointLoader`` schemes (``register_scheme``, its
    extension point), for the local files, the URLs, the named models and ``pavi://``.

    This is the one place every checkpoint load passes, whoever asks: the runner (``load_from``, resume),
    a model's ``init_cfg=dict(type='Pretrained')`` (the backbones' ``torchvision://resnet50``), mmengine's
    ``load_checkpoint`` (``tapps_mm.apis``, ``tools/infer.py``). A runner method would cover only the first.
    The loaders import the policy when called (``tapps_mm.engine`` imports this package's registries)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    register = functools.partial(CheckpointLoader.register_scheme, force=True)
    register(prefixes='', loader=_load_from_local)
    register(prefixes=('http://', 'https://'), loader=_load_from_url)
    register(prefixes=('torchvision://', 'modelzoo://', 'open-mmlab://', 'openmmlab://', 'mmcls://'),
             loader=_load_from_name)
    register(prefixes='pavi://', loader=_load_from_refused)
