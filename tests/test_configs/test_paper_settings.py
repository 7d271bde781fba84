"""The paper configs keep the official algorithm: their resolved settings are compared with a committed
snapshot, so that a toy-only change (or any other) cannot move them silently.

After an intended change, rewrite the snapshot with ``python tests/test_configs/test_paper_settings.py`` and review the
diff of ``tests/snapshots/paper_settings.json``.
"""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from benchmarks.paper import CONFIG_ROWS
from tapps_mm.specs import load_spec
from tapps_mm.testing.model_cases import tiny_model
from tapps_mm.testing.repo import REPO as ROOT

SNAPSHOT = osp.join(ROOT, 'tests', 'snapshots', 'paper_settings.json')
HEAD_KEYS = ('type', 'num_queries', 'num_part_queries', 'num_dynamic', 'lambda_obj', 'lambda_pt',
             'compatible_parts_train', 'part_query', 'part_no_object_weight', 'num_transformer_feat_level',
             'feat_channels', 'out_channels')
LOSS_KEYS = ('loss_cls', 'loss_mask', 'loss_dice', 'loss_part_cls', 'loss_part_mask', 'loss_part_dice')


def config_path(stem: str) -> str:
    return osp.join(ROOT, 'configs', stem.split('_')[0], f'{stem}.py')


def _loss(cfg, head=None) -> dict | None:
    """Weight and type of a loss; the class weights only by their 'no object' (last) entry (those the head
    derives from its spec when the config states none)."""
    if cfg is None:
        return None
    out = {k: cfg[k] for k in ('type', 'loss_weight', 'use_sigmoid', 'naive_dice', 'eps') if k in cfg}
    if cfg.get('class_weight'):
        out.update(num_class_weights=len(cfg['class_weight']), no_object_weight=cfg['class_weight'][-1])
    elif head is not None:
        out.update(num_class_weights=load_spec(head.spec).num_classes + 1,
                   no_object_weight=head.get('no_object_weight', 0.1))
    return out


def _fusion(cfg) -> dict:
    """The fusion head's settings, with the class counts its spec gives."""
    spec = load_spec(cfg.spec)
    out = {k: v for k, v in cfg.items() if k not in ('init_cfg', 'loss_panoptic')}
    return {**out, 'num_things_classes': spec.num_things, 'num_stuff_classes': spec.num_stuff}


def algorithm_settings(stem: str) -> dict:
    """What defines the algorithm of a config: point sampling, losses and their weights, matching costs,
    queries, decoder layers, part switches, inference thresholds, solver and schedule."""
    cfg = Config.fromfile(config_path(stem))
    model, head = cfg.model, cfg.model.panoptic_head
    train = model.train_cfg
    return dict(
        model=model.type,
        point_sampling={k: train[k] for k in ('num_points', 'oversample_ratio', 'importance_sample_ratio')},
        matching=[{k: c[k] for k in ('type', 'weight')} for c in train.assigner.match_costs],
        head={k: head[k] for k in HEAD_KEYS if k in head},
        losses={k: _loss(head.get(k), head if k == 'loss_cls' else None) for k in LOSS_KEYS if k in head},
        decoder_layers=head.transformer_decoder.num_layers,
        pixel_decoder_layers=head.pixel_decoder.encoder.num_layers,
        fusion=_fusion(model.panoptic_fusion_head),
        test_cfg={k: model.test_cfg[k] for k in ('object_mask_thr', 'iou_thr', 'max_per_image', 'filter_low_score')},
        optimizer={k: cfg.optim_wrapper.optimizer[k] for k in ('type', 'lr', 'weight_decay')},
        optimizer_constructor=cfg.optim_wrapper.get('constructor'),
        norm_decay_mult=cfg.optim_wrapper.get('paramwise_cfg', {}).get('norm_decay_mult'),
        train_pipeline=[t['type'] for t in cfg.train_dataloader.dataset.pipeline],
        clip_grad=cfg.optim_wrapper.get('clip_grad'),
        max_iters=cfg.train_cfg.max_iters,
        batch_size=cfg.train_dataloader.batch_size)


def snapshot() -> dict:
    return {stem: algorithm_settings(stem) for stem in sorted(CONFIG_ROWS)}


def test_every_paper_config_is_in_the_snapshot():
    with open(SNAPSHOT) as f:
        assert sorted(json.load(f)) == sorted(CONFIG_ROWS)


@pytest.mark.parametrize('stem', sorted(CONFIG_ROWS))
def test_paper_config_settings_did_not_move(stem):
    with open(SNAPSHOT) as f:
        expected = json.load(f)[stem]
    assert json.loads(json.dumps(algorithm_settings(stem))) == expected, (
        f'{stem}: the resolved settings differ from {osp.relpath(SNAPSHOT, ROOT)}; if intended, run '
        'python tests/test_configs/test_paper_settings.py and review the diff')


def test_the_official_point_sampling_and_loss_weights():
    """The facts of the official TAPPS, in the snapshot itself: point sampling, loss weights and the 10 decoder
    predictions (9 layers) as docs/fidelity.md lists them with the tests that run them, and Mask2Former's 100
    queries."""
    with open(SNAPSHOT) as f:
        settings = json.load(f)
    for stem, s in settings.items():
        assert s['point_sampling'] == dict(num_points=12544, oversample_ratio=3.0, importance_sample_ratio=0.75), stem
        assert (s['losses']['loss_mask']['loss_weight'], s['losses']['loss_dice']['loss_weight']) == (5.0, 5.0), stem
        assert s['losses']['loss_cls']['no_object_weight'] == 0.1 and s['decoder_layers'] == 9, stem
        assert s['head']['num_queries'] == 100 and s['head']['lambda_pt'] == s['head']['lambda_obj'] == 1.0, stem


def test_the_part_switches_the_tapps_configs_leave_to_the_jops_head_are_the_official_ones():
    """The TAPPS configs state ``part_query`` / ``compatible_parts_train`` only in the ablations (the baseline
    configs inherit the others): the JOPS heads' defaults must be the official 2-layer MLP part-query
    adaptation and compatible parts at training."""
    with open(SNAPSHOT) as f:
        settings = json.load(f)
    for switch in ('part_query', 'compatible_parts_train'):
        assert any(s['head']['type'].startswith('JOPS') and switch not in s['head'] for s in settings.values())
    for stem in ('tapps_r50_4xb4-60k_pascal-pp', 'tapps_r50-cocopan-dynparts_4xb4-10k_pascal-pp'):
        head = tiny_model(config_path(stem)).panoptic_head
        assert head.compatible_parts_train, stem
        assert sum(isinstance(m, torch.nn.Linear) for m in head.part_queries.adapt) == 2, stem


if __name__ == '__main__':
    from tapps_mm.fileio import write_json_atomic
    write_json_atomic(snapshot(), SNAPSHOT)
    print(f'wrote {osp.relpath(SNAPSHOT, ROOT)}')
