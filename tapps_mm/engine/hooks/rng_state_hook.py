"""Exact resume: the torch random state travels with the checkpoint.

mmengine re-seeds a resumed run and replays the data loader up to the checkpoint, so the data (numpy
randomness in the transforms, the sampler's own generator) comes back identical; the model's own
randomness (Mask2Former's point sampling draws from torch's global generator) would not. This hook
stores each rank's torch (and CUDA) generator state in the checkpoint and restores it when a run
resumes, so a killed and resumed run ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from tapps_mm.registry import HOOKS


def _local_state() -> dict:
    state = {'torch': torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save every rank's torch generator state with each checkpoint; restore it on ``--resume``."""

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) in after_train_iter

    def __init__(self) -> None:
        self._states: list[dict] | None = None
        self._loaded: list[dict] | None = None
        self._checkpoint_hook: CheckpointHook | None = None

    def before_train(self, runner) -> None:
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        self._checkpoint_hook = hooks[0] if hooks else None
        if self._loaded is None or runner.iter == 0:  # nothing loaded, or a plain load_from: not a resume
            return
        rank, world = get_rank(), get_world_size()
        if len(self._loaded) != world:
            print_log(f'RNGStateHook: checkpoint has generator states of {len(self._loaded)} ranks, the run has '
                      f'{world}; not restored (the resumed run will not match an uninterrupted one)',
                      logger='current', level=30)
            return
        torch.set_rng_state(self._loaded[rank]['torch'])
        if 'cuda' in self._loaded[rank] and torch.cuda.is_available():
            torch.cuda.set_rng_state(self._loaded[rank]['cuda'])

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        hook = self._checkpoint_hook
        if hook is None or not (hook.every_n_train_iters(runner, hook.interval)
                                or (hook.save_last and hook.is_last_train_iter(runner))):
            return
        state = _local_state()
        self._states = all_gather_object(state) if get_world_size() > 1 else [state]

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._states is not None:
            checkpoint['rng_states'] = self._states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get('rng_states')
