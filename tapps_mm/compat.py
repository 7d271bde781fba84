"""Every work-around for a known incompatibility of the pinned stack lives here, each with a test.

(a) panoptic-parts 2.0rc6 does not import on Python >= 3.10: ``specs/dataset_spec.py`` compares
    ``float(platform.python_version()[:3])`` ('3.1' for 3.10+) against 3.6 and raises.
(b) mmengine 0.10.7 loads checkpoints with a bare ``torch.load``; torch >= 2.6 defaults to
    ``weights_only=True``, which rejects the pickled message hub of a full (resumable) checkpoint. The fix
    keeps ``weights_only=True`` and allows exactly the types our checkpoints hold
    (``tapps_mm.engine.safe_load``): a file from elsewhere still cannot run code on load.
(c) mmengine 0.10.7 imports ``pkg_resources``, which setuptools >= 81 no longer ships.
(d) mmengine 0.10.7's distributed set-up assumes GPUs: ``init_dist`` calls ``torch.cuda.set_device`` and
    the runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on a CPU machine, so
    ``tools/dist_train.sh`` / ``slurm_train.sh`` could not run there. With no CUDA, the fix skips
    ``set_device``, replaces the NCCL backend by gloo and leaves ``device_ids`` unset (CPU DDP).
(e) mmengine 0.10.7's ``LoggerHook`` writes a test run's metrics to ``<ts>/<ts>.json`` through
    ``_process_tags``, which keeps only Python scalars: numpy integers (the message hub's form of an int
    metric such as ``pps/num_images``) silently become null. The fix turns numpy scalars into Python ones.
(f) mmengine 0.10.7 turns a checkpoint's ``meta['config']`` into a ``Config`` on resume by running it as a
    Python file, and loads ``http(s)://`` checkpoints (also ``load_from`` / ``torchvision://`` /
    ``open-mmlab://``) with torch hub's full unpickler: a checkpoint from elsewhere could run code. The fix
    drops ``meta['config']`` when a checkpoint is loaded (the run's own config is there; a checkpoint saved
    by another config is reported, by comparing the text), downloads remote files and loads them by the
    same policy as local ones, and refuses ``pavi://``.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import platform
import sys
import warnings
from unittest import mock

_PP_PATCHED_VERSION = '3.9.0'


def import_panoptic_parts():
    """Import ``panoptic_parts`` (fix (a)): its version check only runs at import time."""
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


def _load_local_checkpoint(filename: str, map_location=None):
    """Fix (b): mmengine's local loader, restricted to weights and the types of our own full checkpoints."""
    from tapps_mm.engine.safe_load import load_checkpoint_file
    return load_checkpoint_file(filename, map_location)


@contextlib.contextmanager
def _naming(filename: str, what: str):
    """Errors inside say which checkpoint they are about (mmengine's resume gives a bare ``KeyError``)."""
    try:
        yield
    except Exception as e:
        if str(filename) in str(e):
            raise
        raise RuntimeError(f'{what} {filename}: {type(e).__name__}: {e}') from e


def _resume_names_the_file(resume):
    """Fix (f), errors: ``Runner.resume`` failing on a checkpoint names it."""
    if getattr(resume, 'tapps_mm_patched', False):
        return resume

    @functools.wraps(resume)
    def wrapper(self, filename, *args, **kwargs):
        with _naming(filename, 'cannot resume from'):
            return resume(self, filename, *args, **kwargs)

    wrapper.tapps_mm_patched = True
    return wrapper


def _checkpoint_config_not_run(load_checkpoint):
    """Fix (f) for resume: ``Runner.load_checkpoint`` returns the checkpoint without ``meta['config']`` (which
    ``Runner.resume`` would run); a checkpoint saved by another config is reported."""
    if getattr(load_checkpoint, 'tapps_mm_patched', False):
        return load_checkpoint

    @functools.wraps(load_checkpoint)
    def wrapper(self, filename, *args, **kwargs):
        with _naming(filename, 'cannot load'):
            checkpoint = load_checkpoint(self, filename, *args, **kwargs)
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        if isinstance(meta, dict) and 'config' in meta:
            text = meta.pop('config')
            if isinstance(text, str) and text.strip() != self.cfg.pretty_text.strip():
                from mmengine.logging import print_log
                print_log(f'{filename} was saved by another config than this run\'s (its text differs; it is not '
                          'run): check that this is the checkpoint you meant', logger='current', level=30)
        return checkpoint

    wrapper.tapps_mm_patched = True
    return wrapper


def _load_url_checkpoint(filename: str, *args, **kwargs):
    """Fix (f): a remote checkpoint, downloaded and then loaded as a local one."""
    from tapps_mm.engine.safe_load import load_checkpoint_url
    return load_checkpoint_url(filename, *args, **kwargs)


def _refuse_scheme(filename: str, *args, **kwargs):
    from tapps_mm.engine.safe_load import refuse_scheme
    return refuse_scheme(filename)


def cpu_safe_init_dist(init_dist):
    """Fix (d) for ``init_dist``: unchanged with CUDA; without, gloo instead of NCCL and no ``set_device``."""
    if getattr(init_dist, 'cpu_safe', False):
        return init_dist

    @functools.wraps(init_dist)
    def wrapper(launcher: str, backend: str = 'nccl', **kwargs):
        import torch
        if torch.cuda.is_available():
            return init_dist(launcher, backend=backend, **kwargs)
        if backend == 'nccl':
            from mmengine.logging import print_log
            print_log('No CUDA device: distributed backend nccl -> gloo', logger='current')
            backend = 'gloo'
        with mock.patch.object(torch.cuda, 'set_device', lambda *_: None):
            return init_dist(launcher, backend=backend, **kwargs)

    wrapper.cpu_safe = True
    return wrapper


def _cpu_safe_ddp_init(ddp_init):
    """Fix (d) for the DDP wrapper: ``device_ids`` only for a module on a GPU (CPU DDP needs None)."""
    if getattr(ddp_init, 'cpu_safe', False):
        return ddp_init

    @functools.wraps(ddp_init)
    def wrapper(self, module, *args, **kwargs):
        if kwargs.get('device_ids') and not any(p.is_cuda for p in module.parameters()):
            kwargs['device_ids'] = None
        ddp_init(self, module, *args, **kwargs)

    wrapper.cpu_safe = True
    return wrapper


def _python_scalar_tags(process_tags):
    @functools.wraps(process_tags)
    def wrapper(tags):
        import numpy as np
        return process_tags({k: v.item() if isinstance(v, np.generic) else v for k, v in tags.items()})
    wrapper.tapps_mm_patched = True
    return wrapper


def patch_mmengine() -> None:
    """Apply (b) - (f). Idempotent; called by ``tapps_mm.registry`` before mmengine is used."""
    ensure_pkg_resources()
    import mmengine.runner.checkpoint as checkpoint_module
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is not _load_local_checkpoint:
        CheckpointLoader.register_scheme(prefixes='', force=True)(_load_local_checkpoint)
        CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), force=True)(_load_url_checkpoint)
        CheckpointLoader.register_scheme(prefixes='pavi://', force=True)(_refuse_scheme)
    # torchvision:// and open-mmlab:// resolve to a URL or a file and call these module functions
    checkpoint_module.load_from_http = _load_url_checkpoint
    checkpoint_module.load_from_local = _load_local_checkpoint
    import mmengine.runner.runner as runner_module
    runner_module.Runner.load_checkpoint = _checkpoint_config_not_run(runner_module.Runner.load_checkpoint)
    runner_module.Runner.resume = _resume_names_the_file(runner_module.Runner.resume)
    from mmengine.model import MMDistributedDataParallel
    runner_module.init_dist = cpu_safe_init_dist(runner_module.init_dist)
    MMDistributedDataParallel.__init__ = _cpu_safe_ddp_init(MMDistributedDataParallel.__init__)
    from mmengine.hooks import LoggerHook
    if not getattr(LoggerHook._process_tags, 'tapps_mm_patched', False):
        LoggerHook._process_tags = staticmethod(_python_scalar_tags(LoggerHook._process_tags))
