"""Strict conversion of detectron2 state dicts (official TAPPS, Mask2Former COCO-panoptic) into ours.

Strict means: every source tensor has a destination or is on the documented drop list, every model tensor
has a source or is on the documented fill list, and shapes agree; otherwise :class:`ConversionError`
lists every offending name. The result is a report (what was mapped, dropped, filled, left to start fresh)
and a state dict for ``torch.save``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from tapps_mm.converters.key_rules import FILLED, KeyRules


class ConversionError(ValueError):
    """A source or model tensor without a counterpart, or a shape that does not fit."""


@dataclass
class ConversionReport:
    mapped: int = 0
    dropped: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)  # model tensors left at their initialisation (on request)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f'{self.mapped} tensors converted']
        for what, names in (('dropped (no counterpart, documented)', self.dropped),
                            ('filled with zeros (no counterpart, documented)', self.filled),
                            ('left at their initialisation', self.fresh)):
            if names:
                lines.append(f'{len(names)} {what}: ' + ', '.join(names[:8]) + (' ...' if len(names) > 8 else ''))
        return '\n'.join(lines + self.notes)


def convert_state_dict(source: dict, model_shapes: dict[str, tuple], rules: KeyRules,
                       drop: tuple[str, ...] = (), transforms: dict[str, Callable] | None = None,
                       fresh: Callable[[str], bool] | None = None) -> tuple[dict, ConversionReport]:
    """``source`` (detectron2 names) -> a state dict with the names and shapes of ``model_shapes``.

    Args:
        drop: regular expressions of source names that have no counterpart (documented by the caller).
        transforms: destination name -> function applied to the tensor (class-row permutation, ...).
        fresh: destination names allowed to have no source (they keep the model's initialisation).
    """
    import torch
    transforms = transforms or {}
    report = ConversionReport()
    out, no_rule, unknown, shape_errors = {}, [], [], []
    for key, value in source.items():
        if any(re.fullmatch(p, key) for p in drop):
            report.dropped.append(key)
            continue
        dst = rules.to_mmdet(key)
        if dst is None:
            no_rule.append(key)
            continue
        if dst not in model_shapes:
            unknown.append(f'{key} -> {dst}')
            continue
        tensor = torch.as_tensor(value)
        if dst in transforms:
            tensor = transforms[dst](tensor)
        if tuple(tensor.shape) != tuple(model_shapes[dst]):
            shape_errors.append(f'{key} -> {dst}: {tuple(tensor.shape)} vs model {tuple(model_shapes[dst])}')
            continue
        out[dst] = tensor
    missing = []
    for dst, shape in model_shapes.items():
        if dst in out:
            continue
        if FILLED.match(dst):
            out[dst] = torch.zeros(shape, dtype=torch.long)
            report.filled.append(dst)
        elif fresh is not None and fresh(dst):
            report.fresh.append(dst)
        else:
            missing.append(dst)
    problems = [(f'{len(no_rule)} source tensors without a destination', no_rule),
                (f'{len(unknown)} source tensors whose destination the model does not have', unknown),
                (f'{len(shape_errors)} shapes that do not fit', shape_errors),
                (f'{len(missing)} model tensors without a source', missing)]
    problems = [(title, names) for title, names in problems if names]
    if problems:
        raise ConversionError('\n'.join(f'{title}: ' + ', '.join(names[:20]) + (' ...' if len(names) > 20 else '')
                                        for title, names in problems))
    report.mapped = len(out) - len(report.filled)
    return out, report


def load_detectron2_state(path: str) -> dict:
    """The state dict of a detectron2 checkpoint: a torch file (official TAPPS ``.bin`` / ``.pth``, the weights
    possibly under ``model``) or a detectron2 ``.pkl`` (numpy arrays under ``model``), both read by the loading
    policy of every checkpoint (:mod:`tapps_mm.engine.safe_load`: nothing but tensors, numbers and containers
    is constructed)."""
    from tapps_mm.engine.safe_load import load_checkpoint_file
    data = load_checkpoint_file(path, map_location='cpu')
    if isinstance(data, dict) and isinstance(data.get('model'), dict):
        data = data['model']
    elif isinstance(data, dict) and isinstance(data.get('state_dict'), dict):
        data = data['state_dict']
    if not isinstance(data, dict) or not data:
        raise ConversionError(f'{path}: no state dict found (expected a dict of tensors, possibly under "model")')
    if all(k.startswith('module.') for k in data):  # saved from a DistributedDataParallel wrapper
        data = {k[len('module.'):]: v for k, v in data.items()}
    return data
