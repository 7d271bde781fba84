"""Fingerprint what every config's model computes, to show that a refactoring changed no behaviour.

For each config: the model is built and its weights are set by name (so that the order in which modules
are constructed cannot matter), then one training pass (every loss value, the gradient of every parameter)
and one inference pass (PPS prediction, conflict flags, panoptic output, the metrics) run on small copies
of the config's dataset in its real format, with a fixed seed. Floats are stored exactly (``float.hex``),
tensors as SHA-256 of their bytes.

    python tools/analysis_tools/model_fingerprint.py --out before.json            # every config
    python tools/analysis_tools/model_fingerprint.py --out after.json --compare before.json
    python tools/analysis_tools/model_fingerprint.py --scalars A/vis_data/scalars.json --compare-scalars B/...

``--compare`` exits 1 and lists the differing entries; ``--compare-scalars`` compares two training logs
(every logged loss at every step; times excluded).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import zlib
from glob import glob

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope

import tapps_mm.registry  # noqa: F401
from tapps_mm.registry import DATASETS, MODELS
from tapps_mm.testing.fake_datasets import write_fake_cityscapes_pp, write_fake_pascal_pp, write_fake_synthetic_pp

FAKE = {'CityscapesPPSDataset': ('cityscapes', write_fake_cityscapes_pp),
        'PascalPPSDataset': ('pascal', write_fake_pascal_pp), 'PascalPP107Dataset': ('pascal', write_fake_pascal_pp),
        'SyntheticPPSDataset': ('synthetic', write_fake_synthetic_pp)}
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations'),
            dict(type='Resize', scale=(128, 64), keep_ratio=True), dict(type='PackPPSInputs')]
TIME_KEYS = ('time', 'data_time', 'eta', 'memory')


def _sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


@torch.no_grad()
def set_weights_by_name(model: torch.nn.Module) -> None:
    """Weights drawn from a generator seeded by each parameter's name: independent of construction order.
    Constant initialisations (norm weights, zero biases) are kept; they draw no random numbers."""
    for name, p in model.named_parameters():
        if p.numel() and bool((p == p.flatten()[0]).all()):
            continue
        g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        scale = 1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.02
        p.copy_(torch.randn(p.shape, generator=g) * scale)


def fingerprint(config: str, roots: dict) -> dict:
    init_default_scope('tapps_mm')
    cfg = Config.fromfile(config)
    kind, write = FAKE[cfg.train_dataloader.dataset.type]
    if kind not in roots:
        roots[kind] = tempfile.mkdtemp(prefix=f'fp_{kind}_') + '/'
        write(roots[kind], num_train=1, num_val=2)
    dataset = DATASETS.build({**cfg.val_dataloader.dataset, 'data_root': roots[kind], 'test_mode': False,
                              'pipeline': PIPELINE})
    batch = pseudo_collate([dataset[0], dataset[1]])
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    set_weights_by_name(model)
    out = {}
    torch.manual_seed(0)
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    out['losses'] = {k: float(v.detach().sum()).hex() for k, v in losses.items()}
    total, _ = model.parse_losses(losses)
    total.backward()
    out['grads'] = {n: _sha(p.grad) for n, p in model.named_parameters() if p.grad is not None}
    model.eval()
    # every query kept: the part fusion then runs on all of them, not only on those a random model is sure of
    model.panoptic_fusion_head.test_cfg['object_mask_thr'] = 0.0
    with torch.no_grad():
        preds = model(**model.data_preprocessor(batch, False), mode='predict')
    out['pred_pps'] = [_sha(p.pred_pps.data) for p in preds]
    out['pred_conflicts'] = [p.pred_pps_conflicts.tolist() for p in preds]
    out['pred_panoptic'] = [_sha(p.pred_panoptic_seg.sem_seg) for p in preds]
    evaluator = Evaluator({**cfg.val_evaluator})
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process(data_batch=batch, data_samples=[p.to_dict() for p in preds])
    out['metrics'] = {k: (float(v).hex() if isinstance(v, (int, float)) else v)
                      for k, v in evaluator.evaluate(2).items()}
    return out


def scalar_losses(path: str) -> dict:
    """step -> {key: value} of a scalars.json, without timings."""
    records = {}
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            records[rec['step']] = {k: v for k, v in rec.items() if k not in TIME_KEYS and k != 'lr'}
    return records


def diff(a: dict, b: dict, prefix: str = '') -> list[str]:
    out = []
    for k in sorted(set(a) | set(b), key=str):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += diff(a[k], b[k], f'{prefix}{k}/')
        elif a.get(k, '<missing>') != b.get(k, '<missing>'):
            out.append(f'{prefix}{k}: {a.get(k, "<missing>")} != {b.get(k, "<missing>")}')
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='*', help='default: every config in configs/tapps, configs/baseline and '
                                                   'configs/mask2former')
    parser.add_argument('--out', help='write the fingerprints (JSON)')
    parser.add_argument('--compare', help='fingerprints written before: list the differences, exit 1 if any')
    parser.add_argument('--scalars', help='a training run\'s vis_data/scalars.json')
    parser.add_argument('--compare-scalars', help='another run\'s scalars.json to compare --scalars with')
    args = parser.parse_args(argv)
    if args.scalars:
        found = diff(scalar_losses(args.scalars), scalar_losses(args.compare_scalars))
        n = len(scalar_losses(args.scalars))
        print(f'{n} logged steps compared: ' + ('identical' if not found else f'{len(found)} differences'))
        print('\n'.join(found[:50]))
        return int(bool(found))
    configs = args.configs or sorted(glob('configs/tapps/*.py') + glob('configs/baseline/*.py')
                                     + glob('configs/mask2former/*.py'))
    roots: dict = {}
    result = {}
    for i, config in enumerate(configs, 1):
        print(f'[{i}/{len(configs)}] {config}', file=sys.stderr, flush=True)
        result[config] = fingerprint(config, roots)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1, sort_keys=True)
    if args.compare:
        with open(args.compare) as f:
            before = json.load(f)
        found = diff({c: before.get(c, {}) for c in result}, result)
        print(f'{len(result)} configs compared: ' + ('identical' if not found else f'{len(found)} differences'))
        print('\n'.join(found[:100]))
        return int(bool(found))
    return 0


if __name__ == '__main__':
    sys.exit(main())
