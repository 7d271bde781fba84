"""Say how much of a checkpoint reached the model, and refuse to evaluate one that did not load.

mmengine loads checkpoints tolerantly: a state dict that matches none of the model's parameters only
logs a warning, and a test run then scores a randomly initialised model as if it were the checkpoint.
This hook runs before the weights are copied (``after_load_checkpoint``): it compares the checkpoint's
tensors with the model's by name and shape, logs a one-line summary, and with ``strict=True`` (what
``tools/test.py`` uses unless ``--non-strict``) raises an error naming what did not match. A checkpoint
of which not one tensor fits is an error too (a wrong file, not a partial initialisation), unless
``allow_unrelated`` (``tools/test.py --non-strict``: evaluate it anyway, on request).

Names and shapes are not enough: a value that is a numpy array, or a sparse tensor, has a shape but cannot be
copied, and mmengine only logs the copy failures ("While copying the parameter ..."). So every value the model
takes must be a dense tensor (an error otherwise, strict or not), and after the copy (``before_train`` /
``before_val`` / ``before_test``) the hook checks that each of those model tensors now holds the checkpoint's
values.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from tapps_mm.registry import HOOKS


@dataclass
class StateDictMatch:
    """How a checkpoint's state dict lines up with a model's (buffers included)."""

    loaded: list[str]
    missing: list[str]      # in the model, not in the checkpoint
    unexpected: list[str]   # in the checkpoint, not in the model
    mismatched: list[tuple[str, tuple, tuple]]  # (name, checkpoint shape, model shape)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        return (f'{len(self.loaded)}/{total} model tensors loaded ({len(self.missing)} missing, '
                f'{len(self.mismatched)} of another shape, {len(self.unexpected)} checkpoint tensors unused)')

    def details(self, limit: int = 20) -> str:
        def listing(title, items):
            shown = ', '.join(map(str, items[:limit])) + (f', ... ({len(items) - limit} more)' if len(items) > limit
                                                          else '')
            return [f'  {title} ({len(items)}): {shown}'] if items else []
        shapes = [f'{k} {tuple(c)} vs model {tuple(m)}' for k, c, m in self.mismatched]
        return '\n'.join(listing('missing in the checkpoint', self.missing)
                         + listing('not in the model', self.unexpected)
                         + listing('shape mismatch', shapes))


def match_state_dict(model_state: dict, checkpoint_state: dict, revise_keys=((r'^module\.', ''),)) -> StateDictMatch:
    """Compare by name and shape, after mmengine's default key revision (``module.`` prefix removed).

    BatchNorm's ``num_batches_tracked`` counters are ignored when missing, as mmengine does."""
    state = dict(checkpoint_state)
    for pattern, repl in revise_keys:
        state = {re.sub(pattern, repl, k): v for k, v in state.items()}
    loaded, missing, mismatched = [], [], []
    for name, tensor in model_state.items():
        if name not in state:
            if not name.endswith('num_batches_tracked'):
                missing.append(name)
        elif tuple(state[name].shape) != tuple(tensor.shape):
            mismatched.append((name, tuple(state[name].shape), tuple(tensor.shape)))
        else:
            loaded.append(name)
    unexpected = [k for k in state if k not in model_state]
    return StateDictMatch(loaded, missing, unexpected, mismatched)


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Log how much of each loaded checkpoint fits the model; ``strict`` makes any mismatch an error.

    Args:
        strict: raise when a tensor is missing, unexpected or of another shape. Training keeps it off:
            ``load_from`` of a COCO Mask2Former checkpoint is meant to drop its class head.
        allow_unrelated: accept a checkpoint of which not one tensor fits (otherwise an error).
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = False, allow_unrelated: bool = False) -> None:
        self.strict = strict
        self.allow_unrelated = allow_unrelated

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        match = match_state_dict(model.state_dict(), state)
        source = getattr(runner, '_load_from', None) or 'checkpoint'
        not_dense = [f'{name} ({_kind(state, name)})' for name in match.loaded if not _dense(_value(state, name))]
        if not_dense:
            raise RuntimeError(f'{source}: {len(not_dense)} values are not dense tensors and cannot be copied into '
                               f'the model: {", ".join(not_dense[:10])}' + (' ...' if len(not_dense) > 10 else ''))
        # the dict, not its values: a later hook may replace them before the model loads it (EMAHook, resuming,
        # swaps the averaged weights for the training ones), and the model must hold what it finally loads
        self._to_verify = (source, state, match.loaded)
        if self.strict and not match.exact:
            raise RuntimeError(f'{source} does not match the model of this config: {match.summary()}\n'
                               f'{match.details()}\n(pass --non-strict to tools/test.py to evaluate it anyway)')
        if not match.loaded and (match.missing or match.mismatched) and not self.allow_unrelated:
            raise RuntimeError(f'{source}: not one tensor of it fits the model of this config ({match.summary()}): '
                               'a checkpoint of another model, or no weights at all')
        print_log(f'{source}: {match.summary()}', logger='current')
        if not match.exact:
            print_log(f'not loaded from {source}:\n{match.details()}', logger='current', level=logging.WARNING)

    def _verify_copied(self, runner) -> None:
        """Every model tensor the checkpoint provided holds its values now (mmengine only logs a failed copy)."""
        pending, self._to_verify = getattr(self, '_to_verify', None), None
        if pending is None:
            return
        source, checkpoint_state, names = pending
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = model.state_dict()
        differ = [name for name in names if not _same(state[name], _value(checkpoint_state, name))]
        if differ:
            raise RuntimeError(f'{source}: {len(differ)}/{len(names)} tensors did not reach the model (see the '
                               f'"While copying" messages above): {", ".join(differ[:10])}'
                               + (' ...' if len(differ) > 10 else ''))

    def before_train(self, runner) -> None:
        self._verify_copied(runner)

    def before_val(self, runner) -> None:
        self._verify_copied(runner)

    def before_test(self, runner) -> None:
        self._verify_copied(runner)


def _value(state: dict, name: str):
    """The checkpoint's value for model tensor ``name`` (with mmengine's ``module.`` prefix revision)."""
    return state[name] if name in state else state[f'module.{name}']


def _same(model_value: torch.Tensor, checkpoint_value: torch.Tensor) -> bool:
    """The model holds the checkpoint's values (cast to its dtype; NaN equals NaN: a diverged checkpoint that
    loaded is not a failed copy)."""
    a, b = model_value.detach().cpu(), checkpoint_value.detach().to('cpu', model_value.dtype)
    return torch.equal(a, b) if not a.is_floating_point() else torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)


def _dense(value) -> bool:
    return isinstance(value, torch.Tensor) and value.layout == torch.strided and not value.is_meta


def _kind(state: dict, name: str) -> str:
    value = _value(state, name)
    return f'{value.layout} tensor' if isinstance(value, torch.Tensor) else type(value).__module__ + '.' + \
        type(value).__qualname__
