"""Every config builds and runs: names, inheritance depth, what each ablation and each toy setting tried
changes, and for each one the datasets with their real pipelines, the evaluator and one loss + predict pass
of the model on small copies of the datasets in their real formats (the evaluator then scores those
predictions)."""
from __future__ import annotations

import argparse
import ast
import math
import os.path as osp
from glob import glob

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope

import tapps_mm.registry  # noqa: F401
from benchmarks.metafiles import NAME
from benchmarks.toy import TOY as TOY_SETTING
from tapps_mm.engine.cli import add_common_args, merge_cfg_options
from tapps_mm.registry import DATASETS, MODELS
from tapps_mm.testing.fake_datasets import write_fake_cityscapes_pp, write_fake_pascal_pp, write_fake_synthetic_pp

CONFIGS = sorted(glob('configs/tapps/*.py') + glob('configs/baseline/*.py') + glob('configs/mask2former/*.py'))
#: the toy settings tried before today's, apart from the live configs (docs/toy_benchmark.md)
TRIED_CONFIGS = sorted(glob('configs/_tried_/toy/*.py'))
FAKE_ROOT_OF = {'CityscapesPPSDataset': 'cityscapes', 'PascalPPSDataset': 'pascal', 'PascalPP107Dataset': 'pascal',
                'SyntheticPPSDataset': 'synthetic'}
SMALL_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations'),
                  dict(type='Resize', scale=(128, 64), keep_ratio=True), dict(type='PackPPSInputs')]

COCO = {'load_from', 'custom_hooks', 'model.backbone.init_cfg'}
R50_COCO_PANOPTIC = 'checkpoints/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl'
SWIN_B_COCO_PANOPTIC = 'checkpoints/maskformer2_swin_base_IN21k_384_bs16_50ep/model_final_54b88a.pkl'
PASCAL_COCO = COCO | {'max_iters', 'train_cfg.max_iters', 'train_cfg.val_interval', 'param_scheduler.end'}
BASELINE = {'model.panoptic_head.type', 'model.panoptic_head.num_part_queries', 'model.panoptic_fusion_head.type'}
T = 'configs/tapps/'
M = 'configs/mask2former/'
TOY = T + 'tapps_r18-toy_1xb8-1000it_synthetic.py'
# (config, the config it must equal, the keys it may change): what each row of a table varies
VARIANTS = [
    (T + 'tapps_r50-cocopan_4xb4-90k_cityscapes-pp.py', T + 'tapps_r50_4xb4-90k_cityscapes-pp.py', COCO),
    (T + 'tapps_r50-cocopan_4xb4-10k_pascal-pp.py', T + 'tapps_r50_4xb4-60k_pascal-pp.py', PASCAL_COCO),
    (T + 'tapps_r50-cocopan_4xb4-10k_pascal-pp107.py', T + 'tapps_r50_4xb4-60k_pascal-pp107.py', PASCAL_COCO),
    (T + 'tapps_r50_4xb4-60k_pascal-pp107.py', T + 'tapps_r50_4xb4-60k_pascal-pp.py',
     {'model.panoptic_head.spec', 'model.panoptic_fusion_head.spec', 'dataset_type', 'spec',
      'train_dataloader.dataset.type', 'train_dataloader.dataset.spec', 'val_dataloader.dataset.type',
      'val_dataloader.dataset.spec', 'test_dataloader.dataset.type', 'test_dataloader.dataset.spec'}),
    (T + 'tapps_r50-nocompat_4xb4-60k_pascal-pp.py', T + 'tapps_r50_4xb4-60k_pascal-pp.py',
     {'model.panoptic_head.compatible_parts_train', 'model.panoptic_fusion_head.compatible_parts_test'}),
    (T + 'tapps_r50-nocompat-train_4xb4-60k_pascal-pp.py', T + 'tapps_r50_4xb4-60k_pascal-pp.py',
     {'model.panoptic_head.compatible_parts_train'}),
    (T + 'tapps_r50-cocopan-nocompat_4xb4-10k_pascal-pp.py', T + 'tapps_r50-cocopan_4xb4-10k_pascal-pp.py',
     {'model.panoptic_head.compatible_parts_train', 'model.panoptic_fusion_head.compatible_parts_test'}),
    (T + 'tapps_r50-cocopan-nocompat-train_4xb4-10k_pascal-pp.py', T + 'tapps_r50-cocopan_4xb4-10k_pascal-pp.py',
     {'model.panoptic_head.compatible_parts_train'}),
    *[(T + f'tapps_r50-cocopan-adapt{n}_4xb4-10k_pascal-pp.py', T + 'tapps_r50-cocopan_4xb4-10k_pascal-pp.py',
       {'model.panoptic_head.part_query.num_adapt_layers'}) for n in (0, 1, 3)],
    (T + 'tapps_r50-cocopan-dynparts_4xb4-10k_pascal-pp.py', T + 'tapps_r50-cocopan_4xb4-10k_pascal-pp.py',
     {'model.panoptic_head.type', 'model.panoptic_head.num_dynamic'}),
    *[(T + f'tapps_swin-b-p4-w12-384-in21k-cocopan_4xb4-{s}_{d}.py', T + f'tapps_r50-cocopan_4xb4-{s}_{d}.py',
       {'model.backbone', 'model.panoptic_head.in_channels', 'load_from', 'optim_wrapper.paramwise_cfg.custom_keys',
        'depths', 'backbone_no_decay', 'custom_keys'}) for s, d in (('90k', 'cityscapes-pp'), ('10k', 'pascal-pp'))],
    # the toy versions of Tables 3, 4 and 7 (tools/reproduce_tables.py --tables 3 4 7)
    (T + 'tapps_r18-toy-nocompat_1xb8-1000it_synthetic.py', TOY,
     {'model.panoptic_head.compatible_parts_train', 'model.panoptic_fusion_head.compatible_parts_test'}),
    (T + 'tapps_r18-toy-nocompat-train_1xb8-1000it_synthetic.py', TOY, {'model.panoptic_head.compatible_parts_train'}),
    *[(T + f'tapps_r18-toy-adapt{n}_1xb8-1000it_synthetic.py', TOY,
       {'model.panoptic_head.part_query.num_adapt_layers'}) for n in (0, 1, 3)],
    (T + 'tapps_r18-toy-dynparts_1xb8-1000it_synthetic.py', TOY,
     {'model.panoptic_head.type', 'model.panoptic_head.num_dynamic'}),
    *[(f'configs/baseline/baseline_{b}_{s}_{d}.py', T + f'tapps_{b}_{s}_{d}.py', BASELINE)
      for b, s, d in (('r50', '4xb4-90k', 'cityscapes-pp'), ('r50-cocopan', '4xb4-90k', 'cityscapes-pp'),
                      ('r50', '4xb4-60k', 'pascal-pp'), ('r50-cocopan', '4xb4-10k', 'pascal-pp'),
                      ('r50', '4xb4-60k', 'pascal-pp107'), ('r50-cocopan', '4xb4-10k', 'pascal-pp107'),
                      ('r18-toy', '1xb8-1000it', 'synthetic'))],
]


def _iters(n: int, warmup: int = 50) -> dict:
    """The keys a toy schedule of ``n`` iterations sets (the toy config's warm-up, or none)."""
    poly = dict(type='PolyLR', eta_min=0, power=0.9, by_epoch=False, begin=warmup, end=n)
    warm = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup)] if warmup else []
    return {'max_iters': n, 'train_cfg.max_iters': n, 'train_cfg.val_interval': n, 'param_scheduler': warm + [poly]}


def _baseline(config: str) -> str:
    """A TAPPS config's baseline namesake: in configs/baseline/, or beside it (a tried setting)."""
    folder, name = osp.split(config)
    return osp.join(folder.replace('configs/tapps', 'configs/baseline'), name.replace('tapps_', 'baseline_', 1))


# The toy settings measured before today's (docs/toy_benchmark.md): config -> every key (as _flat names it) in
# which it differs from the toy config, with its value; its baseline counterpart differs from the baseline toy
# config in the same keys and values.
LR4 = {'optim_wrapper.optimizer.lr': 0.0004}
LARGE = {'model.backbone.base_channels': 64, 'model.panoptic_head.in_channels': [64, 128, 256, 512],
         'model.panoptic_head.pixel_decoder.encoder.num_layers': 2,
         'model.panoptic_head.transformer_decoder.num_layers': 4, 'model.train_cfg.num_points': 512,
         'train_dataloader.num_workers': 1, 'train_dataloader.persistent_workers': True}
TRIED_DIR = 'configs/_tried_/toy/'
TRIED = {
    TRIED_DIR + 'tapps_r18-toy-large-nowarmup-lr4e-4_1xb8-400it_synthetic.py':  # v2-400it
    {**LARGE, 'warmup_iters': 0, **LR4, **_iters(400, warmup=0)},
    TRIED_DIR + 'tapps_r18-toy-large-nowarmup-lr4e-4_1xb8-600it_synthetic.py':  # v3-600it
    {**LARGE, 'warmup_iters': 0, **LR4, **_iters(600, warmup=0)},
    TRIED_DIR + 'tapps_r18-toy-lr4e-4_1xb8-1000it_synthetic.py': LR4,  # v5-1000it
    TRIED_DIR + 'tapps_r18-toy-lr4e-4_1xb8-1500it_synthetic.py': {**LR4, **_iters(1500)},  # v6-1500it
}


PROBE_DIR = 'configs/_probes_/toy/'
H = 'model.panoptic_head.'
WIDTH256 = {H + 'feat_channels': 256, H + 'out_channels': 256,
            H + 'pixel_decoder.encoder.layer_cfg.self_attn_cfg.embed_dims': 256,
            H + 'pixel_decoder.encoder.layer_cfg.ffn_cfg.embed_dims': 256,
            H + 'pixel_decoder.encoder.layer_cfg.ffn_cfg.feedforward_channels': 512,
            H + 'pixel_decoder.positional_encoding.num_feats': 128, H + 'positional_encoding.num_feats': 128,
            H + 'transformer_decoder.layer_cfg.self_attn_cfg.embed_dims': 256,
            H + 'transformer_decoder.layer_cfg.cross_attn_cfg.embed_dims': 256,
            H + 'transformer_decoder.layer_cfg.ffn_cfg.embed_dims': 256,
            H + 'transformer_decoder.layer_cfg.ffn_cfg.feedforward_channels': 1024, 'dims': 256}
# The pre-registered toy probes (docs/toy_benchmark.md#pre-registered-probes): config -> every key in which it
# differs from its method's toy config, with its value (None: a TAPPS-only probe, no baseline namesake).
PROBES = {
    PROBE_DIR + 'tapps_r18-toy-partlossx05_1xb8-1000it_synthetic.py': ({H + 'lambda_pt': 0.5}, False),
    PROBE_DIR + 'tapps_r18-toy-partlossx2_1xb8-1000it_synthetic.py': ({H + 'lambda_pt': 2.0}, False),
    PROBE_DIR + 'tapps_r18-toy-width256_1xb8-1000it_synthetic.py': (WIDTH256, True),
    PROBE_DIR + 'tapps_r18-toy_1xb8-2000it_synthetic.py': (_iters(2000), True),
}
PROBE_CONFIGS = sorted(glob(PROBE_DIR + '*.py'))


def _flat(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def _depth(path: str) -> int:
    """Files in the longest ``_base_`` chain from ``path`` (the config itself included)."""
    tree = ast.parse(open(path).read())
    bases = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
    return 1 + max((_depth(osp.normpath(osp.join(osp.dirname(path), b))) for b in bases), default=0)


def test_configs_cover_the_expected_set():
    assert len(CONFIGS) == 32, CONFIGS
    assert {v[0] for v in VARIANTS} <= set(CONFIGS)
    assert set(TRIED_CONFIGS) == set(TRIED) | {_baseline(c) for c in TRIED}
    assert set(PROBE_CONFIGS) == set(PROBES) | {_baseline(c) for c, (_, both) in PROBES.items() if both}


@pytest.mark.parametrize('config', CONFIGS)
def test_name_and_inheritance(config):
    m = NAME.match(osp.splitext(osp.basename(config))[0])
    assert m, f'{config}: not {{method}}_{{backbone}}_{{gpus}}xb{{batch}}-{{schedule}}_{{dataset}}.py'
    assert m['method'] == osp.basename(osp.dirname(config))
    # _base_ model (Mask2Former -> TAPPS) -> dataset config -> 107-part spec -> COCO initialisation -> ablation /
    # baseline
    assert _depth(config) <= 6, f'{config}: inheritance deeper than base -> dataset -> variants'
    cfg = Config.fromfile(config)
    # default_runtime.py: the runner whose resume never runs a checkpoint's config, the CPU-safe DDP wrapper
    assert cfg.runner_type == 'TappsRunner' and 'CPUSafe' in cfg.model_wrapper_cfg.type
    assert int(m['batch']) == cfg.train_dataloader.batch_size
    iters = cfg.train_cfg.max_iters
    assert m['schedule'] == (f'{iters // 1000}k' if iters % 1000 == 0 and iters >= 10000 else f'{iters}it')
    schedulers = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
    assert schedulers[-1].end == iters, 'the poly schedule must end with training'
    assert all(a.end == b.begin for a, b in zip(schedulers, schedulers[1:])), 'a warm-up must hand over to poly'
    # the spec has one home, the dataset config's `spec`: the datasets and heads name it, the metric and the
    # visualiser take it from the dataset's metainfo
    assert (cfg.model.panoptic_head.spec == cfg.model.panoptic_fusion_head.spec == cfg.spec
            == cfg.train_dataloader.dataset.spec == cfg.val_dataloader.dataset.spec)
    assert 'spec' not in cfg.val_evaluator and 'spec' not in cfg.test_evaluator and 'spec' not in cfg.visualizer
    if 'cocopan' in config:
        # Mask2Former's own COCO-panoptic weights, named as the official configs' MODEL.WEIGHTS, converted on load
        assert cfg.load_from == (SWIN_B_COCO_PANOPTIC if 'swin' in config else R50_COCO_PANOPTIC)
        assert 'Mask2FormerInitHook' in [h['type'] for h in cfg.custom_hooks] and cfg.model.backbone.init_cfg is None
    elif 'toy' not in config:
        assert cfg.load_from is None and cfg.model.backbone.init_cfg.type == 'Pretrained'


@pytest.mark.parametrize('config,reference,allowed', VARIANTS, ids=[osp.basename(v[0]) for v in VARIANTS])
def test_variant_changes_only_its_switch(config, reference, allowed):
    a, b = _flat(Config.fromfile(config).to_dict()), _flat(Config.fromfile(reference).to_dict())
    changed = {k for k in a.keys() | b.keys() if a.get(k, '<unset>') != b.get(k, '<unset>')}
    changed = {k for k in changed if not any(k == p or k.startswith(p + '.') for p in allowed)}
    assert not changed, f'{config} differs from {reference} in {sorted(changed)}'


@pytest.mark.parametrize('config', sorted(TRIED), ids=lambda c: osp.basename(c))
def test_tried_toy_setting_differs_only_in_its_keys(config):
    for ours, toy in ((config, TOY), (_baseline(config), _baseline(TOY))):
        a, b = _flat(Config.fromfile(ours).to_dict()), _flat(Config.fromfile(toy).to_dict())
        changed = {k: a.get(k, '<unset>') for k in a.keys() | b.keys() if a.get(k, '<unset>') != b.get(k, '<unset>')}
        assert changed == TRIED[config], f'{ours} differs from {toy} in {sorted(changed)}'


@pytest.mark.parametrize('config', sorted(PROBES), ids=lambda c: osp.basename(c))
def test_probe_differs_only_in_its_keys(config):
    keys, both = PROBES[config]
    pairs = [(config, TOY)] + ([(_baseline(config), _baseline(TOY))] if both else [])
    for ours, toy in pairs:
        a, b = _flat(Config.fromfile(ours).to_dict()), _flat(Config.fromfile(toy).to_dict())
        changed = {k: a.get(k, '<unset>') for k in a.keys() | b.keys() if a.get(k, '<unset>') != b.get(k, '<unset>')}
        assert changed == keys, f'{ours} differs from {toy} in {sorted(changed)}'


@pytest.fixture(scope='module')
def fake_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('fake_data')
    write_fake_cityscapes_pp(str(base / 'cityscapes'), num_train=1, num_val=2)
    write_fake_pascal_pp(str(base / 'pascal'), num_train=1, num_val=2)
    write_fake_synthetic_pp(str(base / 'synthetic'), num_train=1, num_val=2)
    return {name: str(base / name) + '/' for name in ('cityscapes', 'pascal', 'synthetic')}


@pytest.mark.parametrize('config', CONFIGS + TRIED_CONFIGS + PROBE_CONFIGS)
def test_config_builds_and_runs(config, fake_roots):
    init_default_scope('tapps_mm')
    cfg = Config.fromfile(config)
    root = fake_roots[FAKE_ROOT_OF[cfg.train_dataloader.dataset.type]]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
    # the real pipelines, one sample each
    train_item = DATASETS.build(cfg.train_dataloader.dataset)[0]
    assert train_item['inputs'].shape[0] == 3 and 'gt_part_seg' in train_item['data_samples']
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    assert 'pps_label_path' in val_set[0]['data_samples']
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = val_set.metainfo

    # the model (random init: init_weights would fetch pretrained weights), as the runner has it
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    small = DATASETS.build({**cfg.val_dataloader.dataset, 'test_mode': False, 'pipeline': SMALL_PIPELINE})
    batch = pseudo_collate([small[0], small[1]])
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert any('part' in k for k in losses) == (not config.startswith(M)), sorted(losses)  # plain: no part loss
    total = sum(float(v.detach().sum()) for k, v in losses.items() if 'loss' in k)
    assert math.isfinite(total)

    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(batch, False), mode='predict')
    for pred, item in zip(preds, (small[0], small[1])):
        h, w = item['data_samples'].ori_shape
        assert tuple(pred.pred_pps.data.shape) == (3, h, w)
    evaluator.process(data_batch=batch, data_samples=[p.to_dict() for p in preds])
    metrics = evaluator.evaluate(2)
    assert 0.0 <= metrics['pps/PartPQ'] <= 1.0 and 'pps/PQ' in metrics


# What the PPS Mask2Former changes in mmdet's (configs/_base_/models/mask2former_r50.py; everything else must
# equal mmdet's own mask2former_r50_8xb2-lsj-50e_coco-panoptic model). The base cannot inherit that file:
# mmdet ships Mask2Former only as a complete config (dataset, schedule, runtime) and mmengine refuses two
# bases that define one key, so it would collide with every dataset / schedule / runtime base.
MMDET_M2F = 'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'
PPS_CHANGES = {
    'type',  # PartAwareMask2Former: predict() asks the heads for parts
    'data_preprocessor.type', 'data_preprocessor.batch_augments',  # pads the part map; Pascal pads in its pipeline
    'backbone.init_cfg.checkpoint',  # torchvision's R-50 by URL (no torchvision install)
    'panoptic_head.type', 'panoptic_head.no_object_weight',
    # the spec decides the class counts and class weights (mmdet: COCO's 80 + 53)
    'panoptic_head.num_things_classes', 'panoptic_head.num_stuff_classes', 'panoptic_head.loss_cls.class_weight',
    'panoptic_fusion_head.type', 'panoptic_fusion_head.num_things_classes',
    'panoptic_fusion_head.num_stuff_classes',
    # PPS inference as the official TAPPS (detectron2): its object score threshold
    'test_cfg.instance_on', 'test_cfg.object_mask_thr',
}
# What TAPPS adds to it (configs/_base_/models/tapps_r50.py): the JOPS head and the part settings of the fusion
JOPS_BRANCH = {'model.panoptic_head.type', 'model.panoptic_head.lambda_obj', 'model.panoptic_head.lambda_pt',
               'model.panoptic_head.loss_part_mask', 'model.panoptic_head.loss_part_dice',
               'model.panoptic_fusion_head.compatible_parts_test', 'model.panoptic_fusion_head.no_part_score'}


def test_model_base_is_mmdets_mask2former_plus_the_pps_changes(tmp_path):
    (tmp_path / 'm2f.py').write_text(f'_base_ = {MMDET_M2F!r}\n')  # mmdet:: resolves inside _base_ only
    ours = _flat(Config.fromfile('configs/_base_/models/mask2former_r50.py').model.to_dict())
    mmdet = _flat(Config.fromfile(str(tmp_path / 'm2f.py')).model.to_dict())
    mmdet.pop('_scope_')  # mmengine's mark of a config from another package
    changed = {k for k in ours.keys() | mmdet.keys() if ours.get(k, '<unset>') != mmdet.get(k, '<unset>')}
    unexpected = {k for k in changed if not any(k == p or k.startswith(p + '.') for p in PPS_CHANGES)}
    assert not unexpected, {k: (mmdet.get(k, '<unset>'), ours.get(k, '<unset>')) for k in sorted(unexpected)}
    assert {'type', 'panoptic_head.type', 'panoptic_fusion_head.type'} <= changed


def _added(config: str, reference: str) -> dict:
    """Every key (as _flat names it) in which ``config`` differs from ``reference``, with its value."""
    a, b = _flat(Config.fromfile(config).to_dict()), _flat(Config.fromfile(reference).to_dict())
    return {k: a.get(k, '<unset>') for k in a.keys() | b.keys() if a.get(k, '<unset>') != b.get(k, '<unset>')}


def test_tapps_is_the_plain_mask2former_plus_the_jops_head():
    """The TAPPS model base adds the JOPS head to the Mask2Former one, and each plain Mask2Former config is its
    TAPPS counterpart without exactly that: no switch of the part branch is left behind or restated apart."""
    jops = _added('configs/_base_/models/tapps_r50.py', 'configs/_base_/models/mask2former_r50.py')
    # jops_model: the one home of these keys (configs/_base_/models/jops_head.py), which `model` is set from
    assert {k[len('jops_model.'):] for k in jops if k.startswith('jops_model.')} == \
        {k[len('model.'):] for k in jops if k.startswith('model.')}
    jops = {k: v for k, v in jops.items() if not k.startswith('jops_model.')}
    assert {k for k in jops if not any(k == p or k.startswith(p + '.') for p in JOPS_BRANCH)} == set()
    assert jops['model.panoptic_head.type'] == 'JOPSHead'
    for mask2former in sorted(glob(M + '*.py')):
        added = _added(mask2former.replace(M + 'mask2former_', T + 'tapps_'), mask2former)
        assert {k: v for k, v in added.items() if not k.startswith('jops_model.')} == jops, mask2former


@pytest.mark.parametrize('config', sorted(TOY_SETTING.config_files(('3', '4', '7'))))
def test_quick_options_shorten_the_whole_toy_schedule(config):
    """``--quick`` overrides the toy schedule by list index: it must still end every scheduler with training."""
    parser = argparse.ArgumentParser()
    add_common_args(parser)  # tools/train.py's --cfg-options
    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, parser.parse_args(['--cfg-options', *TOY_SETTING.quick_options]).cfg_options)
    schedulers = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
    assert schedulers[-1].end == cfg.train_cfg.max_iters == cfg.train_cfg.val_interval == 10
    assert all(a.end == b.begin for a, b in zip(schedulers, schedulers[1:]))
