"""The runner every config builds (``runner_type='TappsRunner'`` in ``configs/_base_/default_runtime.py``).

mmengine 0.10.7's ``Runner``, changed where it does not fit this project, as overridden methods (importing
``tapps_mm`` changes nothing in mmengine's own ``Runner``):

- resuming never runs the checkpoint's config: mmengine's ``resume`` turns ``meta['config']`` into a
  ``Config`` by executing it as Python, so a checkpoint from elsewhere could run code. ``load_checkpoint``
  drops it (the run's own config is there) and reports a checkpoint saved by another config;
- a checkpoint that fails to load or resume is named in the error (mmengine's gives a bare ``KeyError``);
- distributed runs start on a machine without CUDA: mmengine's ``init_dist`` calls
  ``torch.cuda.set_device`` and the configs ask for NCCL; there the process group starts over gloo.
  The DDP wrapper's part of it is ``CPUSafeDistributedDataParallel`` (``model_wrapper_cfg``).
"""
from __future__ import annotations

import contextlib
from unittest import mock

import torch
from mmengine.dist import init_dist, is_distributed
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.utils.dl_utils import set_multi_processing

from tapps_mm.registry import RUNNERS


@contextlib.contextmanager
def _naming(filename: str, what: str):
    """Errors inside say which checkpoint they are about."""
    try:
        yield
    except Exception as e:
        if str(filename) in str(e):
            raise
        raise RuntimeError(f'{what} {filename}: {type(e).__name__}: {e}') from e


def init_cpu_dist(launcher: str, backend: str = 'nccl', **kwargs) -> None:
    """mmengine's ``init_dist`` on a machine without CUDA: gloo instead of NCCL, and no ``set_device``.

    ``init_dist`` calls ``torch.cuda.set_device`` for every launcher before it starts the process group and
    has no argument to skip it; it is replaced by a no-op for this one call (the launchers' environment
    parsing, e.g. Slurm's node list, stays mmengine's)."""
    if backend == 'nccl':
        print_log('No CUDA device: distributed backend nccl -> gloo', logger='current')
        backend = 'gloo'
    with mock.patch.object(torch.cuda, 'set_device', lambda *_: None):
        init_dist(launcher, backend=backend, **kwargs)


@RUNNERS.register_module()
class TappsRunner(Runner):
    """mmengine's ``Runner``: checkpoints never run their config and are named in errors; CPU distributed."""

    def setup_env(self, env_cfg: dict) -> None:
        """mmengine's; without CUDA the process group is started first (after the multi-processing set-up, as
        mmengine orders them), so that mmengine's set-up finds it started and skips its ``init_dist``."""
        if self.distributed and not is_distributed() and not torch.cuda.is_available():
            set_multi_processing(**env_cfg.get('mp_cfg', {}), distributed=True)
            init_cpu_dist(self.launcher, **env_cfg.get('dist_cfg', {}))
        super().setup_env(env_cfg)

    def load_checkpoint(self, filename: str, *args, **kwargs) -> dict:
        """mmengine's, returning the checkpoint without ``meta['config']`` (which ``resume`` would run)."""
        with _naming(filename, 'cannot load'):
            checkpoint = super().load_checkpoint(filename, *args, **kwargs)
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        if isinstance(meta, dict) and 'config' in meta:
            text = meta.pop('config')
            if isinstance(text, str) and text.strip() != self.cfg.pretty_text.strip():
                print_log(f"{filename} was saved by another config than this run's (its text differs; it is not "
                          'run): check that this is the checkpoint you meant', logger='current', level=30)
        return checkpoint

    def resume(self, filename: str, *args, **kwargs) -> None:
        with _naming(filename, 'cannot resume from'):
            super().resume(filename, *args, **kwargs)
