"""Cost of TAPPS vs mmdet's plain Mask2Former at the same size, measured side by side in one run.

    python benchmarks/bench_model_cost.py --config configs/tapps/tapps_r18-toy_1xb4-1600it_synthetic.py
    python benchmarks/bench_model_cost.py --config configs/_base_/models/tapps_r50.py --dataset cityscapes \
        --size 512x1024 --batch 2 --device cuda --amp

The plain model is the same config with mmdet's ``Mask2Former`` / ``Mask2FormerHead`` /
``MaskFormerFusionHead`` / ``DetDataPreprocessor`` (same backbone, pixel decoder, decoder, queries and
losses, no part branch). Both see the same batches of a small dataset in the official formats, written
to a temporary folder at ``--size`` (synthetic, or a fake Cityscapes-PP copy with its real classes).
Measured per model, each in its own process (a clean peak): training step time (forward + backward +
AdamW step), peak memory of training, inference time per batch. Peak memory is
``torch.cuda.max_memory_allocated`` on GPU and the growth of the process's peak RSS over the
after-build RSS on CPU. Printed as a table with TAPPS / Mask2Former ratios; ``--out`` writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

import torch

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
sys.path.insert(0, ROOT)
PLAIN_HEAD_KEYS = ('spec', 'part_query', 'compatible_parts_train', 'lambda_obj', 'lambda_pt', 'loss_part_mask',
                   'loss_part_dice', 'num_dynamic')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=osp.join(ROOT, 'configs/tapps/tapps_r18-toy_1xb4-1600it_synthetic.py'))
    p.add_argument('--dataset', choices=['synthetic', 'cityscapes'], default='synthetic',
                   help='data the batches come from (must match the config\'s classes)')
    p.add_argument('--size', default='128x128', help='HxW of the images (and the train crop)')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--iters', type=int, default=10, help='timed iterations (after --warmup)')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true', help='autocast fp16 (GPU)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='write the measurements as JSON')
    p.add_argument('--worker', choices=['tapps', 'mask2former'], help=argparse.SUPPRESS)
    p.add_argument('--data-root', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def plain_mask2former(model_cfg):
    """The same model without the part branch, as mmdet's own classes."""
    cfg = model_cfg.copy()
    cfg.type = 'Mask2Former'
    cfg.data_preprocessor.type = 'DetDataPreprocessor'
    cfg.panoptic_head.type = 'Mask2FormerHead'
    for key in PLAIN_HEAD_KEYS:
        cfg.panoptic_head.pop(key, None)
    head = cfg.panoptic_head
    cfg.panoptic_fusion_head = dict(type='MaskFormerFusionHead', num_things_classes=head.num_things_classes,
                                    num_stuff_classes=head.num_stuff_classes, loss_panoptic=None, init_cfg=None)
    return cfg


def _batches(args, data_root):
    """Fixed batches through the config's train pipeline (scaled to --size) and test pipeline."""
    import numpy as np
    from mmengine.dataset import pseudo_collate

    from tapps_mm.registry import DATASETS
    ds_type = 'SyntheticPPSDataset' if args.dataset == 'synthetic' else 'CityscapesPPSDataset'
    load = [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations')]
    train = load + [dict(type='RandomFlip', prob=0.5), dict(type='PackPPSInputs')]
    test = [dict(type='LoadImageFromFile'), dict(type='PackPPSInputs')]
    split = 'train'
    train_ds = DATASETS.build(dict(type=ds_type, data_root=data_root, split=split, pipeline=train))
    test_ds = DATASETS.build(dict(type=ds_type, data_root=data_root, split=split, pipeline=test))
    np.random.seed(args.seed)
    n = len(train_ds)
    idx = [[(i * args.batch + j) % n for j in range(args.batch)] for i in range(args.warmup + args.iters)]
    return ([pseudo_collate([train_ds[k] for k in b]) for b in idx],
            [pseudo_collate([test_ds[k] for k in b]) for b in idx[:max(2, args.iters // 2)]])


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def run_worker(args) -> dict:
    """Measure one model (in this process)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tapps_mm.registry  # noqa: F401
    from tapps_mm.registry import MODELS
    init_default_scope('tapps_mm')
    torch.manual_seed(args.seed)
    model_cfg = Config.fromfile(args.config).model
    if args.worker == 'mask2former':
        model_cfg = plain_mask2former(model_cfg)
    model_cfg.backbone.init_cfg = None
    device = torch.device(args.device)
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_batches, test_batches = _batches(args, args.data_root)
    cuda = device.type == 'cuda'
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    base_rss = _rss_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model.train()
    times = []
    for i, batch in enumerate(train_batches):
        sync()
        t = time.perf_counter()
        with torch.autocast(device.type, enabled=args.amp):
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        loss.backward()
        optim.step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    peak = (torch.cuda.max_memory_allocated() / 2 ** 20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_rss)
    model.eval()
    infer = []
    with torch.no_grad():
        for i, batch in enumerate(test_batches):
            sync()
            t = time.perf_counter()
            with torch.autocast(device.type, enabled=args.amp):
                model(**model.data_preprocessor(batch, False), mode='predict')
            sync()
            if i:
                infer.append(time.perf_counter() - t)
    return dict(train_step_s=sum(times) / len(times), train_peak_mb=peak,
                infer_batch_s=sum(infer) / max(len(infer), 1), final_loss=float(loss))


def _write_data(args, root: str) -> None:
    h, w = (int(v) for v in args.size.split('x'))
    n = max(args.batch * 2, 4)
    if args.dataset == 'synthetic':
        from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
        write_synthetic_pp(root, num_train=n, num_val=0, size=(h, w), seed=args.seed, progress=False)
    else:
        from tapps_mm.testing.fake_datasets import write_fake_cityscapes_pp
        write_fake_cityscapes_pp(root, num_train=n, num_val=0, size=(h, w), seed=args.seed)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    results = {}
    with tempfile.TemporaryDirectory() as root:
        _write_data(args, root)
        for name in ('mask2former', 'tapps'):
            cmd = [sys.executable, osp.abspath(__file__), '--worker', name, '--data-root', root] + \
                [a for a in (argv if argv is not None else sys.argv[1:])]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    ratio = {k: results['tapps'][k] / results['mask2former'][k]
             for k in ('train_step_s', 'train_peak_mb', 'infer_batch_s')}
    print(f'config {osp.relpath(args.config, ROOT)}, {args.dataset} {args.size}, batch {args.batch}, '
          f'device {args.device}{" (AMP)" if args.amp else ""}, {args.iters} timed iterations')
    print('| measurement | Mask2Former (mmdet) | TAPPS | ratio |\n| --- | --- | --- | --- |')
    for key, unit in (('train_step_s', 's'), ('train_peak_mb', 'MiB'), ('infer_batch_s', 's')):
        print(f'| {key} | {results["mask2former"][key]:.3f} {unit} | {results["tapps"][key]:.3f} {unit} | '
              f'{ratio[key]:.2f}x |')
    if args.out:
        from tapps_mm.fileio import write_json_atomic
        write_json_atomic(dict(args=vars(args), results=results, ratio=ratio), args.out)


if __name__ == '__main__':
    main()
