"""The official TAPPS checkpoints (detectron2) and Mask2Former COCO-panoptic weights -> our configs.

What differs besides the names (:mod:`tapps_mm.converters.key_rules`):

- the part branch: the official ``criterion.parts_decoder.mask_head`` is a 3-layer MLP (ReLU after the
  first two) whose last layer maps 256 -> 256 x Npc, read as Npc chunks of 256 (part ``k``: rows
  ``k*256 .. (k+1)*256``); ours is the 2-layer adaptation (``part_queries.adapt.{0,2}``) and the split FC
  (``part_queries.part_fc``, the same row layout);
- class order: the official contiguous class ids follow the eval sids in ascending order (Cityscapes-PP:
  the trainIds, stuff first); our heads put things first, so the rows of ``cls_embed`` are permuted
  (the 'no object' row stays last);
- dropped: ``criterion.empty_weight`` (the class weights of the loss, a buffer the config restates).
"""
from __future__ import annotations

import importlib.util
import os.path as osp

import torch

from tapps_mm.converters.checkpoints import ConversionReport, convert_state_dict
from tapps_mm.converters.key_rules import MASK2FORMER_HEAD, MASK2FORMER_R50, KeyRules

PART_RULES = [
    ('criterion.parts_decoder.mask_head.layers.0.{p}', 'panoptic_head.part_queries.adapt.0.{p}'),
    ('criterion.parts_decoder.mask_head.layers.1.{p}', 'panoptic_head.part_queries.adapt.2.{p}'),
    ('criterion.parts_decoder.mask_head.layers.2.{p}', 'panoptic_head.part_queries.part_fc.{p}'),
]
BACKBONE_AS_IS = [('backbone.{p}', 'backbone.{p}')]  # after mmdet's own Swin renaming
TAPPS_DROPPED = (r'criterion\.empty_weight',)
# COCO's 133-class head (detectron2 and mmdet names) and the loss's class weights
COCO_DROPPED = (r'criterion\.empty_weight', r'sem_seg_head\.predictor\.class_embed\..*',
                r'panoptic_head\.cls_embed\..*', r'panoptic_head\.loss_cls\..*')


def official_class_order(spec) -> list[int]:
    """Eval sids in the order of the official class ids (ascending eval sid)."""
    return sorted(spec.classes)


def class_row_permutation(spec) -> list[int]:
    """Row ``i`` of our ``cls_embed`` = row ``perm[i]`` of the official one ('no object' last in both)."""
    official = official_class_order(spec)
    return [official.index(sid) for sid in spec.classes] + [len(official)]


def _swin_to_mmdet(state: dict) -> dict:
    """mmdet's own Swin conversion (``tools/model_converters/swinv1_to_mmdet.py`` shipped with mmdet)."""
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'model_converters', 'swinv1_to_mmdet.py')
    module_spec = importlib.util.spec_from_file_location('mmdet_swinv1_to_mmdet', path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return dict(module.swin_converter(state))


MMDET_AS_IS = KeyRules([('{p}', '{p}')])  # mmdet's own checkpoints already use our names


def _rules_for(source: dict, extra: list) -> tuple[dict, KeyRules]:
    if any(k.startswith('panoptic_head.') for k in source):  # an mmdet checkpoint
        return source, MMDET_AS_IS
    if any(k.startswith('backbone.layers.') for k in source):  # Swin
        source = _swin_to_mmdet(source)
        return source, KeyRules(BACKBONE_AS_IS + extra + MASK2FORMER_HEAD.pairs)
    return source, KeyRules(extra + MASK2FORMER_R50.pairs)


def convert_tapps(source: dict, model, spec) -> tuple[dict, ConversionReport]:
    """An official TAPPS state dict -> the state dict of ``model`` (built from our config of the same row)."""
    source, rules = _rules_for(source, PART_RULES)
    perm = class_row_permutation(spec)
    transforms = {f'panoptic_head.cls_embed.{p}': (lambda t: t[perm]) for p in ('weight', 'bias')}
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state, report = convert_state_dict(source, shapes, rules, TAPPS_DROPPED, transforms)
    report.notes.append(f'cls_embed rows permuted from the official class order (ascending eval sid) to ours '
                        f'(things first): {perm}')
    return state, report


def convert_coco_init(source: dict, model) -> tuple[dict, ConversionReport]:
    """Mask2Former COCO-panoptic weights (detectron2 names) -> an initialisation of ``model``: the class head
    (COCO's classes) and what COCO's Mask2Former does not have (the part branch, the baseline's part
    queries) start fresh."""
    source, rules = _rules_for(source, [])
    own = model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in own.items()}
    notes = []

    def extend_queries(name: str):  # the baseline's tables: the object queries, then its part queries (fresh)
        def extend(t):
            if len(t) < len(own[name]):
                notes.append(f'{name}: rows {len(t)}-{len(own[name]) - 1} (part queries) start fresh')
                return torch.cat([t, own[name][len(t):].to(t)])
            return t
        return extend

    transforms = {k: extend_queries(k) for k in ('panoptic_head.query_embed.weight', 'panoptic_head.query_feat.weight')}
    fresh_prefixes = ('panoptic_head.cls_embed.', 'panoptic_head.part_queries.', 'panoptic_head.part_cls_embed.',
                      'panoptic_head.part_mask_embed.')
    state, report = convert_state_dict(source, shapes, rules, COCO_DROPPED, transforms,
                                       fresh=lambda k: k.startswith(fresh_prefixes))
    report.notes += notes
    return state, report


#: Mask2Former's own COCO-panoptic weights, where the official TAPPS configs read them (``MODEL.WEIGHTS``,
#: relative to the repository root; our ``*cocopan*`` configs' ``load_from``) -> Mask2Former's model zoo URL
MASK2FORMER_COCO_PANOPTIC = {
    'checkpoints/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl':
    'https://dl.fbaipublicfiles.com/maskformer/mask2former/coco/panoptic/maskformer2_R50_bs16_50ep/'
    'model_final_94dc52.pkl',
    'checkpoints/maskformer2_swin_base_IN21k_384_bs16_50ep/model_final_54b88a.pkl':
    'https://dl.fbaipublicfiles.com/maskformer/mask2former/coco/panoptic/maskformer2_swin_base_IN21k_384_bs16_50ep/'
    'model_final_54b88a.pkl',
}


def is_detectron2_mask2former(state: dict) -> bool:
    """Whether a state dict has detectron2's Mask2Former names (``sem_seg_head.*``; ours never do)."""
    return any(k.startswith('sem_seg_head.') for k in state)


#: official TAPPS checkpoint stem -> our config of the same row
OFFICIAL_CHECKPOINTS = {
    'tapps_cityscapes_r50_in1kinit': 'configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py',
    'tapps_cityscapes_r50_cocoinit': 'configs/tapps/tapps_r50-cocopan_4xb4-90k_cityscapes-pp.py',
    'tapps_cityscapes_swinb_cocoinit': 'configs/tapps/tapps_swin-b-p4-w12-384-in21k-cocopan_4xb4-90k_cityscapes-pp.py',
    'tapps_pascal_r50_in1kinit': 'configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py',
    'tapps_pascal_r50_cocoinit': 'configs/tapps/tapps_r50-cocopan_4xb4-10k_pascal-pp.py',
    'tapps_pascal_swinb_cocoinit': 'configs/tapps/tapps_swin-b-p4-w12-384-in21k-cocopan_4xb4-10k_pascal-pp.py',
    'tapps_pascal107_r50_in1kinit': 'configs/tapps/tapps_r50_4xb4-60k_pascal-pp107.py',
    'tapps_pascal107_r50_cocoinit': 'configs/tapps/tapps_r50-cocopan_4xb4-10k_pascal-pp107.py',
}


def config_for(src: str, config: str | None) -> str:
    """``config``, or the config of the official checkpoint named like ``src``."""
    if config:
        return config
    stem = osp.splitext(osp.basename(src))[0]
    if stem not in OFFICIAL_CHECKPOINTS:
        raise ValueError(f'{src}: not an official TAPPS checkpoint name ({", ".join(OFFICIAL_CHECKPOINTS)}); '
                         'pass --config')
    return OFFICIAL_CHECKPOINTS[stem]


def build_model(config: str):
    """The model of ``config`` with random weights (no pretrained download), and its spec."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tapps_mm.registry  # noqa: F401
    from tapps_mm.registry import MODELS
    from tapps_mm.specs import load_spec
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'tapps_mm'))
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model), load_spec(cfg.model.panoptic_head.spec)


def save_checkpoint(state: dict, dst: str, meta: dict) -> None:
    """A checkpoint our loaders (and the restricted unpickler) read: ``{'state_dict', 'meta'}``, atomically."""
    import os

    from tapps_mm.fileio import atomic_path
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    with atomic_path(dst) as tmp:
        torch.save({'state_dict': state, 'meta': meta}, tmp)
