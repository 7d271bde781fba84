"""The models the model-cost benchmark compares, built from a scale's configs: mmdet's plain Mask2Former,
TAPPS and the separate-part-queries baseline; the op counts add our own Mask2Former (``mask2former_pps``: the
part-free counterpart of the TAPPS config, our object head), so that the part branch's own cost can be told
from what our object head saves against mmdet's.

The plain model is the TAPPS config with mmdet's ``Mask2Former`` / ``Mask2FormerHead`` /
``MaskFormerFusionHead`` / ``DetDataPreprocessor`` (same backbone, pixel decoder, decoder, queries and
losses, no part branch), so that the difference in cost is the part branch alone; the baseline is its own
config.
"""
from __future__ import annotations

import inspect
import os.path as osp

#: the checkout whose configs are built (this file is tools/analysis_tools/speed/ of it)
ROOT = osp.abspath(osp.join(osp.dirname(__file__), osp.pardir, osp.pardir, osp.pardir))


def part_head_keys(head_type: str) -> set[str]:
    """The arguments our part-aware head ``head_type`` takes beyond mmdet's ``Mask2FormerHead`` (read from
    the signatures, so a new head argument needs no list here)."""
    from mmdet.models.dense_heads import Mask2FormerHead

    from tapps_mm.registry import MODELS

    def arguments(cls) -> set[str]:
        names: set[str] = set()
        for klass in cls.__mro__[:cls.__mro__.index(Mask2FormerHead) + 1]:
            if '__init__' in vars(klass):
                names |= set(inspect.signature(klass.__init__).parameters)
        return names - {'self', 'args', 'kwargs'}
    return arguments(MODELS.get(head_type)) - arguments(Mask2FormerHead)


def plain_mask2former(model_cfg):
    """The same model without the part branch, as mmdet's own classes."""
    from tapps_mm.models.utils import mask2former_class_args
    from tapps_mm.specs import load_spec
    cfg = model_cfg.copy()
    cfg.type = 'Mask2Former'
    cfg.data_preprocessor.type = 'DetDataPreprocessor'
    head = cfg.panoptic_head
    part_keys = part_head_keys(head.type)
    # the class counts and weights our heads derive from the spec, stated for mmdet's head
    spec = load_spec(head.spec)
    head.update(type='Mask2FormerHead', **mask2former_class_args(
        spec, 'Mask2FormerHead', loss_cls=head.get('loss_cls'), no_object_weight=head.get('no_object_weight', 0.1)))
    for key in part_keys:
        head.pop(key, None)
    cfg.panoptic_fusion_head = dict(type='MaskFormerFusionHead', num_things_classes=spec.num_things,
                                    num_stuff_classes=spec.num_stuff, loss_panoptic=None, init_cfg=None)
    return cfg


def match_in_fp32(head) -> None:
    """Run mmdet's ``Mask2FormerHead.get_targets`` in float32 with autocast off. Under AMP its mask costs sum
    12544 point terms in float16, which overflows ('cost matrix is infeasible'); the official Mask2Former and
    our heads (``BatchedTargetsMixin``) match in float32, so the plain model does too here."""
    import torch
    get_targets = head.get_targets

    def fp32_get_targets(cls_scores_list, mask_preds_list, *args, **kwargs):
        with torch.autocast(cls_scores_list[0].device.type, enabled=False):
            return get_targets([c.float() for c in cls_scores_list], [m.float() for m in mask_preds_list],
                               *args, **kwargs)
    head.get_targets = fp32_get_targets


def model_config(setting: dict, model: str):
    """The model config of ``model`` ('mask2former', 'tapps', 'baseline' or 'mask2former_pps', whose config is
    the setting's ``mask2former_config``) at a scale's ``setting``, with its ``--cfg-options``; random weights (no
    download: they cost the same)."""
    from mmengine.config import Config, DictAction

    from tapps_mm.engine.cli import merge_cfg_options
    path = {'baseline': setting['baseline_config'], 'mask2former_pps': setting.get('mask2former_config')}.get(
        model, setting['config'])
    if path is None:
        raise ValueError(f'bench_model_cost: the setting names no config of {model!r}')
    cfg = Config.fromfile(osp.join(ROOT, path))
    if setting['cfg_options']:  # parsed and checked as tools/train.py's --cfg-options
        merge_cfg_options(cfg, {k: DictAction._parse_iterable(v) for k, v in
                                (kv.split('=', 1) for kv in setting['cfg_options'])})
    model_cfg = plain_mask2former(cfg.model) if model == 'mask2former' else cfg.model
    model_cfg.backbone.init_cfg = None
    return model_cfg
