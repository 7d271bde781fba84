"""Class counts and class weights that the PPS spec determines, so that configs do not restate them."""
from __future__ import annotations

from mmengine.config import ConfigDict

#: mmdet's Mask2Former classification loss, without its COCO class weights
DEFAULT_LOSS_CLS = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0, reduction='mean')


def spec_class_counts(spec, owner: str, num_things_classes: int | None = None,
                      num_stuff_classes: int | None = None) -> tuple[int, int]:
    """(things, stuff) of ``spec``; counts a config states anyway must agree with it."""
    things = spec.num_things if num_things_classes is None else num_things_classes
    stuff = spec.num_stuff if num_stuff_classes is None else num_stuff_classes
    if (things, stuff) != (spec.num_things, spec.num_stuff):
        raise ValueError(f'{owner}: num_things_classes / num_stuff_classes = {things} / {stuff}, but spec '
                         f'{spec.name!r} has {spec.num_things} / {spec.num_stuff} (leave them out: the spec '
                         'decides them)')
    return things, stuff


def with_class_weight(loss_cls: dict | None, num_classes: int, no_object_weight: float, owner: str) -> ConfigDict:
    """``loss_cls`` with ``class_weight`` = 1 per class and ``no_object_weight`` for 'no object' (mmdet's
    Mask2Former convention), unless the config sets it (then it must have ``num_classes + 1`` entries)."""
    cfg = ConfigDict(loss_cls or DEFAULT_LOSS_CLS)
    if cfg.get('class_weight') is None:
        cfg.class_weight = [1.0] * num_classes + [no_object_weight]
    elif len(cfg.class_weight) != num_classes + 1:
        raise ValueError(f'{owner}: loss_cls.class_weight has {len(cfg.class_weight)} entries, expected '
                         f'{num_classes + 1} (classes + no object)')
    return cfg


def mask2former_class_args(spec, owner: str, num_things_classes: int | None = None,
                           num_stuff_classes: int | None = None, loss_cls: dict | None = None,
                           no_object_weight: float = 0.1) -> dict:
    """The arguments of mmdet's ``Mask2FormerHead`` that ``spec`` decides: the class counts and the class
    weights of ``loss_cls``."""
    things, stuff = spec_class_counts(spec, owner, num_things_classes, num_stuff_classes)
    return dict(num_things_classes=things, num_stuff_classes=stuff,
                loss_cls=with_class_weight(loss_cls, things + stuff, no_object_weight, owner))
