"""Scope 'tapps_mm' reaches our modules and mmdet's / mmengine's alike."""
import os.path as osp

from mmengine.config import Config

from tapps_mm.testing.repo import REPO


def test_registries_are_children_of_mmdet():
    from mmdet import registry as mmdet_registry

    from tapps_mm import registry
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'TASK_UTILS', 'VISUALIZERS', 'HOOKS'):
        reg = getattr(registry, name)
        assert reg.scope == 'tapps_mm' and reg.parent is getattr(mmdet_registry, name), name


def test_default_scope_builds_ours_and_mmdets():
    from mmengine.registry import METRICS, MODELS, TRANSFORMS, init_default_scope
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'default_runtime.py'))
    assert cfg.default_scope == 'tapps_mm'
    init_default_scope(cfg.default_scope)
    metric = METRICS.build(dict(type='PartPQMetric', spec='cityscapes-grouped'))
    assert type(metric).__module__.startswith('tapps_mm') and metric.spec.num_parts == 9
    assert type(MODELS.build(dict(type='ResNet', depth=18))).__module__.startswith('mmdet')
    assert type(TRANSFORMS.build(dict(type='RandomFlip', prob=0.5))).__module__.startswith('mmdet')
